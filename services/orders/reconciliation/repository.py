"""The SQL of reconciliation: what the orders service sent, for a time range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.db import outbox
from services.orders.orders.models import Order, OrderLine, Refund, RefundLine


async def orders_in_range(session: AsyncSession, *, since: datetime, until: datetime) -> Sequence[Order]:
    """Orders paid in the range, and orders with held points cancelled in the range."""
    query = (
        select(Order)
        .where(
            or_(
                and_(col(Order.paid_at) >= since, col(Order.paid_at) < until),
                and_(col(Order.cancelled_at) >= since, col(Order.cancelled_at) < until, col(Order.points_used) > 0),
            )
        )
        .order_by(col(Order.id))
    )
    return (await session.exec(query)).all()


async def orders_by_id(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[Order]:
    """The orders of these ids that exist, whenever they were placed."""
    query = select(Order).where(col(Order.id).in_(order_ids)).order_by(col(Order.id))
    return (await session.exec(query)).all()


async def lines_of(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[OrderLine]:
    query = select(OrderLine).where(col(OrderLine.order_id).in_(order_ids)).order_by(col(OrderLine.id))
    return (await session.exec(query)).all()


async def refunds_of(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[Refund]:
    query = select(Refund).where(col(Refund.order_id).in_(order_ids)).order_by(col(Refund.id))
    return (await session.exec(query)).all()


async def refund_lines_of(session: AsyncSession, refund_ids: Sequence[int]) -> Sequence[RefundLine]:
    query = select(RefundLine).where(col(RefundLine.refund_id).in_(refund_ids)).order_by(col(RefundLine.id))
    return (await session.exec(query)).all()


async def aggregates_in_flight(session: AsyncSession) -> set[str]:
    """Aggregates with an event not yet delivered (pending or parked as a dead letter)."""
    t = outbox.table
    conn = await session.connection()
    rows = await conn.execute(select(t.c.aggregate).where(t.c.status != "delivered").distinct())
    return {str(aggregate) for aggregate in rows.scalars().all()}
