"""All SQL about levels and level moves (the figures they are decided on are in `sales`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.leaders.ladder.models import Level, LevelChange


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
