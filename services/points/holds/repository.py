"""All SQL about holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.points.holds.models import Hold, HoldLot, HoldStatus


async def get_hold(session: AsyncSession, order_id: int) -> Hold | None:
    query = select(Hold).where(Hold.order_id == order_id).execution_options(populate_existing=True)
    return (await session.exec(query)).one_or_none()


async def get_holds(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[Hold]:
    return (await session.exec(select(Hold).where(col(Hold.order_id).in_(order_ids)))).all()


async def insert_hold(session: AsyncSession, hold: Hold) -> bool:
    """False when the order holds points already (the order id is the key)."""
    return await insert_once(session, hold, conflict_columns=("order_id",))


async def insert_hold_lots(session: AsyncSession, rows: Sequence[HoldLot]) -> None:
    session.add_all(rows)
    await session.flush()


async def hold_lots(session: AsyncSession, order_id: int) -> Sequence[HoldLot]:
    return (await session.exec(select(HoldLot).where(HoldLot.order_id == order_id))).all()


async def change_status(
    session: AsyncSession, *, order_id: int, expected: HoldStatus, new: HoldStatus, now: datetime
) -> bool:
    """Guarded transition: only one caller moves a hold out of `expected`."""
    query = (
        update(Hold)
        .where(col(Hold.order_id) == order_id, col(Hold.status) == expected)
        .values(status=new, settled_at=now)
    )
    return bool((await session.exec(query)).rowcount == 1)


async def add_points_returned(session: AsyncSession, *, order_id: int, points: int) -> bool:
    query = (
        update(Hold)
        .where(
            col(Hold.order_id) == order_id,
            col(Hold.status) == HoldStatus.COMMITTED,
            col(Hold.points_returned) + points <= col(Hold.points),
        )
        .values(points_returned=col(Hold.points_returned) + points)
    )
    return bool((await session.exec(query)).rowcount == 1)


async def expired_hold_ids(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[int]:
    query = (
        select(Hold.order_id)
        .where(Hold.status == HoldStatus.HELD, col(Hold.expires_at) <= now)
        .order_by(col(Hold.expires_at))
        .limit(limit)
    )
    return (await session.exec(query)).all()


async def held_before(session: AsyncSession, *, created_before: datetime, limit: int) -> Sequence[Hold]:
    """Holds still waiting for their order's payment, oldest first (for the orders service's orphan sweep)."""
    query = (
        select(Hold)
        .where(col(Hold.status) == HoldStatus.HELD, col(Hold.created_at) < created_before)
        .order_by(col(Hold.created_at))
        .limit(limit)
    )
    return (await session.exec(query)).all()
