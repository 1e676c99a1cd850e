"""All SQL about invite codes, referrals, the inviter's daily reward counter and task tiers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.points.referrals.models import InviteCode, InviterDailyRewards, Referral, TaskReward


async def get_code_of(session: AsyncSession, user_id: str) -> InviteCode | None:
    return (await session.exec(select(InviteCode).where(InviteCode.user_id == user_id))).one_or_none()


async def get_code(session: AsyncSession, code: str) -> InviteCode | None:
    return (await session.exec(select(InviteCode).where(InviteCode.code == code))).one_or_none()


async def insert_code_if_absent(session: AsyncSession, *, user_id: str, code: str, now: datetime) -> None:
    """Does nothing when the user has a code already or another user has this one (both keys are unique)."""
    await insert_once(session, InviteCode(user_id=user_id, code=code, created_at=now))


async def lock_codes(session: AsyncSession, user_ids: Sequence[str]) -> None:
    """Serialise bindings that touch the same users (PostgreSQL row locks, in a fixed order: no deadlock)."""
    query = select(InviteCode.user_id).where(col(InviteCode.user_id).in_(sorted(user_ids)))
    await session.exec(query.order_by(col(InviteCode.user_id)).with_for_update())


async def get_referral(session: AsyncSession, invitee_id: str) -> Referral | None:
    query = select(Referral).where(Referral.invitee_id == invitee_id).execution_options(populate_existing=True)
    return (await session.exec(query)).one_or_none()


async def inviter_of(session: AsyncSession, invitee_id: str) -> str | None:
    return (await session.exec(select(Referral.inviter_id).where(Referral.invitee_id == invitee_id))).one_or_none()


async def insert_referral(session: AsyncSession, referral: Referral) -> bool:
    """False when the invitee is bound already (one binding per invitee)."""
    return await insert_once(session, referral, conflict_columns=("invitee_id",))


async def update_referral(session: AsyncSession, *, invitee_id: str, expected: str, values: dict[str, Any]) -> bool:
    query = (
        update(Referral)
        .where(col(Referral.invitee_id) == invitee_id, col(Referral.status) == expected)
        .values(**values)
    )
    return bool((await session.exec(query)).rowcount == 1)


async def list_invitees(
    session: AsyncSession, *, inviter_id: str, limit: int, after: tuple[datetime, str] | None
) -> Sequence[Referral]:
    query = (
        select(Referral)
        .where(Referral.inviter_id == inviter_id)
        .order_by(col(Referral.bound_at).desc(), col(Referral.invitee_id).desc())
        .limit(limit)
    )
    if after is not None:
        at, invitee = after
        query = query.where(
            (col(Referral.bound_at) < at) | ((col(Referral.bound_at) == at) & (col(Referral.invitee_id) < invitee))
        )
    return (await session.exec(query)).all()


async def invitee_summary(session: AsyncSession, inviter_id: str) -> tuple[int, int, int]:
    """(invitees, qualified invitees, reward points) of an inviter."""
    query = select(
        func.count(),
        func.count(col(Referral.qualified_at)),
        func.coalesce(func.sum(Referral.reward_points), 0),
    ).where(Referral.inviter_id == inviter_id)
    total, qualified, points = (await session.exec(query)).one()
    return int(total), int(qualified), int(points)


async def count_qualified(session: AsyncSession, inviter_id: str) -> int:
    query = select(func.count()).where(Referral.inviter_id == inviter_id, col(Referral.qualified_at).is_not(None))
    return int((await session.exec(query)).one())


async def take_daily_reward_slot(session: AsyncSession, *, inviter_id: str, day: date, cap: int) -> bool:
    """Count one reward for the inviter's day unless the cap is reached (a guarded increment, race-free)."""
    await insert_once(
        session, InviterDailyRewards(inviter_id=inviter_id, day=day, rewards=0), conflict_columns=("inviter_id", "day")
    )
    query = (
        update(InviterDailyRewards)
        .where(
            col(InviterDailyRewards.inviter_id) == inviter_id,
            col(InviterDailyRewards.day) == day,
            col(InviterDailyRewards.rewards) < cap,
        )
        .values(rewards=col(InviterDailyRewards.rewards) + 1)
    )
    return bool((await session.exec(query)).rowcount == 1)


async def claim_task_tier(session: AsyncSession, reward: TaskReward) -> bool:
    """Record the tier as reached; False if it was rewarded before."""
    return await insert_once(session, reward, conflict_columns=("user_id", "tier_invitees"))


async def task_rewards(session: AsyncSession, user_id: str) -> Sequence[TaskReward]:
    query = select(TaskReward).where(TaskReward.user_id == user_id).order_by(col(TaskReward.tier_invitees))
    return (await session.exec(query)).all()
