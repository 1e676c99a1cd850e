"""All SQL about purchase points and refunds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, union, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.points.purchases.models import PurchaseAward, RefundApplied


async def insert_award(session: AsyncSession, award: PurchaseAward) -> bool:
    """False when the order's purchase points were awarded before."""
    return await insert_once(session, award, conflict_columns=("order_id",))


async def get_award_for_update(session: AsyncSession, order_id: int) -> PurchaseAward | None:
    query = (
        select(PurchaseAward)
        .where(PurchaseAward.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).one_or_none()


async def record_reversal(
    session: AsyncSession, *, order_id: int, expected_reversed: int, refunded_fen: int, reversed_points: int
) -> bool:
    query = (
        update(PurchaseAward)
        .where(col(PurchaseAward.order_id) == order_id, col(PurchaseAward.reversed_points) == expected_reversed)
        .values(refunded_fen=refunded_fen, reversed_points=reversed_points)
    )
    return bool((await session.exec(query)).rowcount == 1)


async def completed_orders(session: AsyncSession, user_id: str) -> int:
    """Orders of the user picked up so far (each has exactly one award row)."""
    return int((await session.exec(select(func.count()).where(PurchaseAward.user_id == user_id))).one())


async def insert_refund(session: AsyncSession, refund: RefundApplied) -> bool:
    """False when this refund was applied before."""
    return await insert_once(session, refund, conflict_columns=("refund_id",))


async def awards_of(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[PurchaseAward]:
    return (await session.exec(select(PurchaseAward).where(col(PurchaseAward.order_id).in_(order_ids)))).all()


async def refunds_of(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[RefundApplied]:
    return (await session.exec(select(RefundApplied).where(col(RefundApplied.order_id).in_(order_ids)))).all()


async def orders_with_effects(
    session: AsyncSession, *, since: datetime, until: datetime, after: int, limit: int
) -> list[int]:
    """Distinct ids above `after` of the orders with a purchase award or a refund recorded in `[since, until)`."""
    awards = select(col(PurchaseAward.order_id)).where(
        col(PurchaseAward.order_id) > after,
        col(PurchaseAward.created_at) >= since,
        col(PurchaseAward.created_at) < until,
    )
    refunds = select(col(RefundApplied.order_id)).where(
        col(RefundApplied.order_id) > after,
        col(RefundApplied.created_at) >= since,
        col(RefundApplied.created_at) < until,
    )
    credited = union(awards, refunds).subquery()  # UNION: each order once
    query = select(credited.c.order_id).order_by(credited.c.order_id).limit(limit)
    return [int(i) for i in (await session.exec(query)).all()]
