"""Community membership: one community at a time, switching per the configured rules, every join and leave kept
as history and published (`leader.member_joined` / `leader.member_left`) in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.events.contract import LEADER_MEMBER_JOINED, LEADER_MEMBER_LEFT, MemberChanged
from services.common.pagination import Page, PageParams
from services.leaders.communities import repository
from services.leaders.communities.exceptions import (
    MembershipChangedConcurrently,
    MembershipLocked,
    NoCommunity,
    NotAMember,
    SwitchingNotAllowed,
)
from services.leaders.communities.models import (
    Membership,
    MembershipAction,
    MembershipChangeReason,
    MembershipEvent,
)
from services.leaders.communities.schemas import JoinResult, MemberRead, MembershipEventRead, MyCommunity
from services.leaders.db import outbox
from services.leaders.profiles import service as profiles_service
from services.leaders.profiles.access import ensure_reads_leader
from services.leaders.profiles.exceptions import LeaderSuspended
from services.leaders.profiles.models import LeaderStatus
from services.leaders.profiles.schemas import LeaderRead, region_of


@dataclass(frozen=True, slots=True)
class SwitchingRules:
    allowed: bool = True
    lock_days: int = 0  # a member may not leave or switch for this many days after joining


def _ensure_unlocked(membership: Membership, rules: SwitchingRules, now: datetime) -> None:
    unlocks_at = membership.joined_at + timedelta(days=rules.lock_days)
    if now < unlocks_at:
        raise MembershipLocked(
            f"You joined {membership.leader_id}'s community on {membership.joined_at:%Y-%m-%d}; you can leave or "
            f"switch from {unlocks_at.isoformat()}",
            unlocks_at=unlocks_at.isoformat(),
        )


async def _record(
    session: AsyncSession,
    *,
    customer_id: str,
    leader_id: str,
    action: MembershipAction,
    reason: MembershipChangeReason,
    at: datetime,
) -> None:
    await repository.insert_event(
        session, MembershipEvent(customer_id=customer_id, leader_id=leader_id, action=action, reason=reason, at=at)
    )
    payload = MemberChanged(leader_id=leader_id, customer_id=customer_id, at=at)
    await outbox.record(
        session,
        type=LEADER_MEMBER_JOINED if action == MembershipAction.JOINED else LEADER_MEMBER_LEFT,
        aggregate=f"member:{customer_id}",
        data=payload.model_dump(mode="json"),
    )


async def join(
    session: AsyncSession, *, customer_id: str, leader_id: str, rules: SwitchingRules, now: datetime
) -> JoinResult:
    """Join a leader's community; from another community this is a switch (leave there, join here)."""
    leader = await profiles_service.require_leader(session, leader_id)
    current = await repository.get_membership(session, customer_id)
    if current is not None and current.leader_id == leader_id:
        return JoinResult.model_validate(current)  # already here: joining again changes nothing
    if leader.status != LeaderStatus.ACTIVE:
        raise LeaderSuspended(f"Leader {leader_id} is suspended and takes no new members")
    switched_from = None
    if current is not None:
        if not rules.allowed:
            raise SwitchingNotAllowed(f"You are a member of {current.leader_id}'s community; switching is not allowed")
        _ensure_unlocked(current, rules, now)
        if not await repository.delete_membership(session, current):
            raise MembershipChangedConcurrently("Your membership changed while switching")
        await _record(
            session,
            customer_id=customer_id,
            leader_id=current.leader_id,
            action=MembershipAction.LEFT,
            reason=MembershipChangeReason.SWITCH,
            at=now,
        )
        switched_from = current.leader_id
    membership = Membership(customer_id=customer_id, leader_id=leader_id, joined_at=now)
    if not await repository.insert_membership(session, membership):
        raise MembershipChangedConcurrently("You joined another community at the same time")
    await _record(
        session,
        customer_id=customer_id,
        leader_id=leader_id,
        action=MembershipAction.JOINED,
        reason=MembershipChangeReason.SWITCH if switched_from else MembershipChangeReason.JOIN,
        at=now,
    )
    return JoinResult(customer_id=customer_id, leader_id=leader_id, joined_at=now, switched_from=switched_from)


async def leave(
    session: AsyncSession, *, customer_id: str, leader_id: str, rules: SwitchingRules, now: datetime
) -> None:
    current = await repository.get_membership(session, customer_id)
    if current is None or current.leader_id != leader_id:
        raise NotAMember(f"You are not a member of {leader_id}'s community")
    _ensure_unlocked(current, rules, now)
    if not await repository.delete_membership(session, current):
        raise MembershipChangedConcurrently("Your membership changed while leaving")
    await _record(
        session,
        customer_id=customer_id,
        leader_id=leader_id,
        action=MembershipAction.LEFT,
        reason=MembershipChangeReason.LEAVE,
        at=now,
    )


async def list_members(session: AsyncSession, *, user: Principal, leader_id: str, page: PageParams) -> Page[MemberRead]:
    await ensure_reads_leader(session, user, leader_id)
    await profiles_service.require_leader(session, leader_id)
    rows = await repository.list_members(session, leader_id, limit=page.limit + 1, before_id=page.after_int())
    return page.page(rows, key=lambda m: [m.id], convert=MemberRead.model_validate)


async def list_history(
    session: AsyncSession, *, user: Principal, leader_id: str, page: PageParams
) -> Page[MembershipEventRead]:
    await ensure_reads_leader(session, user, leader_id)
    await profiles_service.require_leader(session, leader_id)
    rows = await repository.list_history(session, leader_id, limit=page.limit + 1, before_id=page.after_int())
    return page.page(rows, key=lambda e: [e.id], convert=MembershipEventRead.model_validate)


async def my_community(session: AsyncSession, *, customer_id: str) -> MyCommunity:
    membership = await repository.get_membership(session, customer_id)
    if membership is None:
        raise NoCommunity("Join a leader's community first: POST /api/v1/leaders/{leader_id}/members")
    leader = await profiles_service.require_leader(session, membership.leader_id)
    return MyCommunity(
        leader_id=membership.leader_id,
        joined_at=membership.joined_at,
        leader=LeaderRead.of(leader).public(),
        region=region_of(leader.city, leader.district),
    )
