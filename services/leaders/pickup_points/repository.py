"""The SQL of finding pickup points: active leaders inside a latitude/longitude box, which the
(latitude, longitude) index serves on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.leaders.profiles.models import Leader, LeaderStatus


async def active_leaders_in_box(
    session: AsyncSession, *, min_lat: float, max_lat: float, min_lng: float, max_lng: float
) -> Sequence[Leader]:
    query = select(Leader).where(
        col(Leader.latitude).between(min_lat, max_lat),
        col(Leader.longitude).between(min_lng, max_lng),
        Leader.status == LeaderStatus.ACTIVE,
    )
    return (await session.exec(query)).all()
