"""All SQL about rule versions."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.points.rules.models import RuleVersion


async def latest(session: AsyncSession) -> RuleVersion | None:
    query = select(RuleVersion).order_by(col(RuleVersion.version).desc()).limit(1)
    return (await session.exec(query)).first()


async def insert(session: AsyncSession, row: RuleVersion) -> bool:
    """False when this version number was taken meanwhile."""
    return await insert_once(session, row, conflict_columns=("version",))
