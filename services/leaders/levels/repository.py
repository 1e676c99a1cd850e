"""All SQL about levels, level moves and the 30-day figures they are decided on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.leaders.commission.models import LeaderOrder
from services.leaders.levels.models import Level, LevelChange


async def get_level(session: AsyncSession, code: str) -> Level | None:
    return await session.get(Level, code, populate_existing=True)


async def list_levels(session: AsyncSession) -> Sequence[Level]:
    return (await session.exec(select(Level).order_by(col(Level.rank)))).all()


async def save_level(session: AsyncSession, level: Level) -> bool:
    """Insert or update; False when the rank is already another level's."""
    try:
        async with session.begin_nested():
            session.add(level)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def insert_level_change(session: AsyncSession, change: LevelChange) -> LevelChange:
    session.add(change)
    await session.flush()
    return change


async def list_level_changes(
    session: AsyncSession, leader_id: str, *, limit: int, after_id: int | None
) -> Sequence[LevelChange]:
    query = (
        select(LevelChange).where(LevelChange.leader_id == leader_id).order_by(col(LevelChange.id).desc()).limit(limit)
    )
    if after_id is not None:
        query = query.where(col(LevelChange.id) < after_id)
    return (await session.exec(query)).all()


async def sales_by_leader(
    session: AsyncSession, *, start: datetime, end: datetime, leader_id: str | None = None
) -> dict[str, int]:
    """Paid sales net of refunds per leader (or of one), for orders paid in [start, end)."""
    query = (
        select(LeaderOrder.leader_id, func.sum(col(LeaderOrder.paid_fen) - col(LeaderOrder.refunded_fen)))
        .where(col(LeaderOrder.paid_at) >= start, col(LeaderOrder.paid_at) < end)
        .group_by(col(LeaderOrder.leader_id))
    )
    if leader_id is not None:
        query = query.where(LeaderOrder.leader_id == leader_id)
    rows = await session.exec(query)
    return {leader_id: int(total or 0) for leader_id, total in rows.all()}


async def completed_orders_by_leader(
    session: AsyncSession, *, start: datetime, end: datetime, leader_id: str | None = None
) -> dict[str, int]:
    """Orders picked up in [start, end) per leader (or of one), not counting those refunded in full."""
    query = (
        select(LeaderOrder.leader_id, func.count())
        .where(
            col(LeaderOrder.picked_up_at) >= start,
            col(LeaderOrder.picked_up_at) < end,
            col(LeaderOrder.refunded_fen) < col(LeaderOrder.paid_fen),
        )
        .group_by(col(LeaderOrder.leader_id))
    )
    if leader_id is not None:
        query = query.where(LeaderOrder.leader_id == leader_id)
    rows = await session.exec(query)
    return {leader_id: int(count) for leader_id, count in rows.all()}
