"""Referrals: invite codes, binding an invitee to an inviter once (no self-invites, no cycles), the inviter's
reward when the invitee completes their first order (within a daily cap), and the multi-tier invitation task."""

from __future__ import annotations

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import as_utc, local_date
from services.common.events.contract import REFERRAL_BOUND, ReferralBound
from services.common.pagination import InvalidCursor, Page, PageParams
from services.points.db import outbox
from services.points.ledger import service as ledger
from services.points.ledger.models import PointsEntryKind
from services.points.ledger.service import LedgerInconsistent
from services.points.purchases.repository import completed_orders
from services.points.referrals import repository
from services.points.referrals.exceptions import AlreadyBound, InviteCodeNotFound, ReferralCycle, SelfInvite
from services.points.referrals.models import Referral, ReferralStatus, TaskReward
from services.points.referrals.schemas import (
    BindingRead,
    InviteeRead,
    ReferralsRead,
    TaskRead,
    TasksRead,
    TierRead,
)
from services.points.rules.service import current_rules, lot_expiry

# No 0/O/1/I: codes are read aloud and typed from screenshots.
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 8
#: Longest inviter chain walked when looking for a cycle; real chains are a handful of links.
_MAX_CHAIN = 10_000
RECENT_INVITEES = 20


async def ensure_invite_code(session: AsyncSession, *, user_id: str, now: datetime) -> str:
    for _ in range(10):
        row = await repository.get_code_of(session, user_id)
        if row is not None:
            return row.code
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
        # Ignores both a parallel creation for this user and a code another user has: the loop reads again.
        await repository.insert_code_if_absent(session, user_id=user_id, code=code, now=now)
    raise RuntimeError("could not allocate an invite code")


async def _creates_cycle(session: AsyncSession, *, inviter_id: str, invitee_id: str) -> bool:
    """Would invitee -> inviter close a loop, i.e. is the invitee already up the inviter's chain?"""
    current: str | None = inviter_id
    for _ in range(_MAX_CHAIN):
        current = await repository.inviter_of(session, current) if current is not None else None
        if current is None:
            return False
        if current == invitee_id:
            return True
    return True  # a chain this long is itself a sign of a loop: refuse rather than guess


def _same_binding(referral: Referral, inviter_id: str) -> BindingRead:
    if referral.inviter_id != inviter_id:
        raise AlreadyBound(f"Already bound to inviter {referral.inviter_id}")
    return BindingRead.model_validate(referral)


async def bind(session: AsyncSession, *, invitee_id: str, code: str, now: datetime) -> BindingRead:
    owner = await repository.get_code(session, code)
    if owner is None:
        raise InviteCodeNotFound(f"No user has invite code {code}")
    inviter_id = owner.user_id
    if inviter_id == invitee_id:
        raise SelfInvite("This is your own invite code")
    await ensure_invite_code(session, user_id=invitee_id, now=now)
    # Two users binding to each other at the same time must not both pass the cycle check.
    await repository.lock_codes(session, [inviter_id, invitee_id])
    existing = await repository.get_referral(session, invitee_id)
    if existing is not None:
        return _same_binding(existing, inviter_id)
    if await _creates_cycle(session, inviter_id=inviter_id, invitee_id=invitee_id):
        raise ReferralCycle(f"{inviter_id} was invited, directly or not, by you")
    already_customer = await completed_orders(session, invitee_id) > 0
    referral = Referral(
        invitee_id=invitee_id,
        inviter_id=inviter_id,
        code=code,
        status=ReferralStatus.INELIGIBLE if already_customer else ReferralStatus.BOUND,
        reason="completed an order before binding" if already_customer else None,
        bound_at=now,
    )
    if not await repository.insert_referral(session, referral):
        raced = await repository.get_referral(session, invitee_id)
        assert raced is not None
        return _same_binding(raced, inviter_id)
    await outbox.record(
        session,
        type=REFERRAL_BOUND,
        aggregate=f"user:{invitee_id}",
        data=ReferralBound(inviter_id=inviter_id, invitee_id=invitee_id, at=now).model_dump(mode="json"),
    )
    return BindingRead.model_validate(referral)


async def qualify_on_first_completed_order(
    session: AsyncSession, *, invitee_id: str, order_id: int, completed_at: datetime, now: datetime, tz: ZoneInfo
) -> None:
    """The invitee's first order was picked up: reward the inviter (within the daily cap) and advance tasks."""
    referral = await repository.get_referral(session, invitee_id)
    if referral is None or referral.status != ReferralStatus.BOUND:
        return
    if await completed_orders(session, invitee_id) != 1:
        return
    rules = await current_rules(session)
    day = local_date(completed_at, tz)
    reward = rules.invite_reward_points
    values: dict[str, object] = {"qualified_at": now, "order_id": order_id}
    if reward == 0:
        values |= {"status": ReferralStatus.QUALIFIED, "reason": "no invite reward is configured"}
    elif await repository.take_daily_reward_slot(
        session, inviter_id=referral.inviter_id, day=day, cap=rules.invite_daily_cap
    ):
        values |= {"status": ReferralStatus.REWARDED, "reward_points": reward, "rewarded_at": now}
    else:
        values |= {
            "status": ReferralStatus.QUALIFIED,
            "reason": f"inviter reached the daily cap of {rules.invite_daily_cap} rewards on {day.isoformat()}",
        }
    if not await repository.update_referral(
        session, invitee_id=invitee_id, expected=ReferralStatus.BOUND, values=values
    ):
        return  # qualified by a parallel pickup of another order
    if values["status"] == ReferralStatus.REWARDED:
        entry = await ledger.credit(
            session,
            user_id=referral.inviter_id,
            kind=PointsEntryKind.REFERRAL,
            ref=f"invitee:{invitee_id}",
            points=reward,
            expires_on=lot_expiry(day, rules),
            now=now,
            details={"invitee_id": invitee_id, "order_id": order_id, "rules_version": rules.version},
        )
        if entry is None:
            raise LedgerInconsistent(f"invitee {invitee_id} was rewarded twice")
    await advance_tasks(session, user_id=referral.inviter_id, now=now, tz=tz)


async def advance_tasks(session: AsyncSession, *, user_id: str, now: datetime, tz: ZoneInfo) -> None:
    """Reward every tier the user's qualified invitees reach, each tier once."""
    # Without the lock, invitees qualifying in parallel would each count the others as not yet qualified and a
    # tier reached by them together would wait for the next qualification.
    await ledger.lock_account(session, user_id=user_id, now=now)
    qualified = await repository.count_qualified(session, user_id)
    rules = await current_rules(session)
    for tier in rules.task_tiers:
        if tier.invitees > qualified:
            break
        claimed = await repository.claim_task_tier(
            session,
            TaskReward(
                user_id=user_id,
                tier_invitees=tier.invitees,
                points=tier.points,
                qualified_invitees=qualified,
                rules_version=rules.version,
                created_at=now,
            ),
        )
        if claimed and tier.points > 0:
            await ledger.credit(
                session,
                user_id=user_id,
                kind=PointsEntryKind.TASK,
                ref=f"invite-tier:{tier.invitees}",
                points=tier.points,
                expires_on=lot_expiry(local_date(now, tz), rules),
                now=now,
                details={"tier_invitees": tier.invitees, "qualified": qualified, "rules_version": rules.version},
            )


async def my_referrals(session: AsyncSession, *, user_id: str, now: datetime) -> ReferralsRead:
    code = await ensure_invite_code(session, user_id=user_id, now=now)
    binding = await repository.get_referral(session, user_id)
    total, qualified, points = await repository.invitee_summary(session, user_id)
    recent = await repository.list_invitees(session, inviter_id=user_id, limit=RECENT_INVITEES, after=None)
    return ReferralsRead(
        code=code,
        invited_by=BindingRead.model_validate(binding) if binding is not None else None,
        invitee_count=total,
        qualified_count=qualified,
        reward_points_total=points,
        invitees=[InviteeRead.model_validate(r) for r in recent],
    )


def _invitee_cursor(page: PageParams) -> tuple[datetime, str] | None:
    if page.after is None:
        return None
    try:
        at, invitee = page.after
        return as_utc(datetime.fromisoformat(at)), str(invitee)
    except (TypeError, ValueError, OverflowError):  # OverflowError: year 1 with an offset east of UTC
        raise InvalidCursor() from None


async def list_invitees(session: AsyncSession, *, user_id: str, page: PageParams) -> Page[InviteeRead]:
    rows = await repository.list_invitees(
        session, inviter_id=user_id, limit=page.limit + 1, after=_invitee_cursor(page)
    )
    return page.page(
        rows, key=lambda r: [as_utc(r.bound_at).isoformat(), r.invitee_id], convert=InviteeRead.model_validate
    )


async def my_tasks(session: AsyncSession, *, user_id: str) -> TasksRead:
    rules = await current_rules(session)
    qualified = await repository.count_qualified(session, user_id)
    rewarded = {r.tier_invitees: r for r in await repository.task_rewards(session, user_id)}
    thresholds = sorted({t.invitees for t in rules.task_tiers} | set(rewarded))
    points_of = {t.invitees: t.points for t in rules.task_tiers}
    tiers = []
    for invitees in thresholds:
        done = rewarded.get(invitees)
        tiers.append(
            TierRead(
                invitees=invitees,
                points=done.points if done is not None else points_of[invitees],
                reached=qualified >= invitees,
                rewarded=done is not None,
                rewarded_points=done.points if done is not None else None,
                rewarded_at=done.created_at if done is not None else None,
            )
        )
    return TasksRead(
        tasks=[
            TaskRead(
                key="invite_friends", title="Invite friends who complete an order", progress=qualified, tiers=tiers
            )
        ]
    )
