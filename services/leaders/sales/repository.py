"""All SQL about the sales of each leader's pickup point: the order and refund facts, and the figures read from them.

Sales have one meaning (docs/metrics.md): net sales of a period = what was paid in it (by `paid_at`) − what was
refunded in it (by `refunded_at`), whenever the refunded order was paid. Level evaluation, the leader summary and
the monthly statement all read them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.leaders.sales.models import LeaderOrder, LeaderRefund


@dataclass(frozen=True, slots=True)
class Sales:
    gmv_fen: int  # paid in the period
    refunds_fen: int  # refunded in the period

    @property
    def net_sales_fen(self) -> int:
        return self.gmv_fen - self.refunds_fen


# --- facts -------------------------------------------------------------------------------------------------------


async def insert_order(session: AsyncSession, fact: LeaderOrder) -> bool:
    """False when the order's facts were recorded before (a redelivered event)."""
    return await insert_once(session, fact, conflict_columns=("order_id",))


async def mark_order_picked_up(session: AsyncSession, order_id: int, *, at: datetime) -> None:
    await session.exec(
        update(LeaderOrder)
        .where(col(LeaderOrder.order_id) == order_id, col(LeaderOrder.picked_up_at).is_(None))
        .values(picked_up_at=at)
        .execution_options(synchronize_session=False)
    )


async def record_refund(session: AsyncSession, refund: LeaderRefund) -> bool:
    """Record a refund once (by its id) and add it to its order's refunded total; False when it was recorded."""
    if not await insert_once(session, refund, conflict_columns=("refund_id",)):
        return False
    await session.exec(
        update(LeaderOrder)
        .where(col(LeaderOrder.order_id) == refund.order_id)
        .values(refunded_fen=col(LeaderOrder.refunded_fen) + refund.refund_fen)
        .execution_options(synchronize_session=False)
    )
    return True


# --- figures -----------------------------------------------------------------------------------------------------


async def gmv_by_leader(
    session: AsyncSession, *, start: datetime, end: datetime, leader_id: str | None = None
) -> dict[str, int]:
    """What was paid in [start, end) per leader (or of one): a range scan of `ix_leader_orders_leader_id_paid_at`."""
    query = (
        select(LeaderOrder.leader_id, func.sum(col(LeaderOrder.paid_fen)))
        .where(col(LeaderOrder.paid_at) >= start, col(LeaderOrder.paid_at) < end)
        .group_by(col(LeaderOrder.leader_id))
    )
    if leader_id is not None:
        query = query.where(LeaderOrder.leader_id == leader_id)
    return {leader: int(total or 0) for leader, total in (await session.exec(query)).all()}


async def refunds_by_leader(
    session: AsyncSession, *, start: datetime, end: datetime, leader_id: str | None = None
) -> dict[str, int]:
    """What was refunded in [start, end) per leader (or of one), whenever the orders were paid."""
    query = (
        select(LeaderRefund.leader_id, func.sum(col(LeaderRefund.refund_fen)))
        .where(col(LeaderRefund.refunded_at) >= start, col(LeaderRefund.refunded_at) < end)
        .group_by(col(LeaderRefund.leader_id))
    )
    if leader_id is not None:
        query = query.where(LeaderRefund.leader_id == leader_id)
    return {leader: int(total or 0) for leader, total in (await session.exec(query)).all()}


async def net_sales_by_leader(
    session: AsyncSession, *, start: datetime, end: datetime, leader_id: str | None = None
) -> dict[str, int]:
    """Net sales of [start, end) per leader (or of one) that sold or refunded anything in it; may be negative."""
    gmv = await gmv_by_leader(session, start=start, end=end, leader_id=leader_id)
    refunds = await refunds_by_leader(session, start=start, end=end, leader_id=leader_id)
    return {leader: gmv.get(leader, 0) - refunds.get(leader, 0) for leader in gmv.keys() | refunds.keys()}


async def sales_of(session: AsyncSession, leader_id: str, *, start: datetime, end: datetime) -> Sales:
    """One leader's sales of [start, end)."""
    gmv = await gmv_by_leader(session, start=start, end=end, leader_id=leader_id)
    refunds = await refunds_by_leader(session, start=start, end=end, leader_id=leader_id)
    return Sales(gmv_fen=gmv.get(leader_id, 0), refunds_fen=refunds.get(leader_id, 0))


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
    return {leader: int(count) for leader, count in (await session.exec(query)).all()}
