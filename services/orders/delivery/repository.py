"""All SQL about delivery batches and their pick lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.orders.delivery.models import (
    DeliveryBatch,
    DeliveryBatchItem,
    DeliveryBatchStatus,
    DeliveryShortage,
    DeliveryShortageRefund,
)
from services.orders.orders.models import Order, OrderLine, OrderRefundStatus, OrderStatus


def _eligible(pickup_date: date, paid_before: datetime | None) -> list[object]:
    """Paid, unbatched, not fully refunded orders to be picked up by `pickup_date` (late ones ride along)."""
    conditions: list[object] = [
        Order.status == OrderStatus.PAID,
        col(Order.delivery_batch_id).is_(None),
        col(Order.pickup_date) <= pickup_date,
        Order.refund_status != OrderRefundStatus.FULL,
    ]
    if paid_before is not None:
        conditions.append(col(Order.paid_at) < paid_before)
    return conditions


async def leaders_with_orders_to_ship(
    session: AsyncSession, *, pickup_date: date, paid_before: datetime | None
) -> Sequence[str]:
    query = (
        select(Order.leader_id)
        .where(*_eligible(pickup_date, paid_before))  # type: ignore[arg-type]
        .distinct()
        .order_by(col(Order.leader_id))
    )
    return (await session.exec(query)).all()


async def batches_of_date(session: AsyncSession, pickup_date: date) -> Sequence[DeliveryBatch]:
    query = (
        select(DeliveryBatch)
        .where(DeliveryBatch.pickup_date == pickup_date)
        .order_by(col(DeliveryBatch.leader_id))
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).all()


async def get_batch(session: AsyncSession, batch_id: int) -> DeliveryBatch | None:
    query = select(DeliveryBatch).where(DeliveryBatch.id == batch_id).execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def get_or_create_batch(
    session: AsyncSession, *, leader_id: str, cutoff_date: date, pickup_date: date
) -> DeliveryBatch:
    query = (
        select(DeliveryBatch)
        .where(DeliveryBatch.leader_id == leader_id, DeliveryBatch.pickup_date == pickup_date)
        .execution_options(populate_existing=True)
    )
    found = (await session.exec(query)).first()
    if found is not None:
        return found
    batch = DeliveryBatch(
        leader_id=leader_id, cutoff_date=cutoff_date, pickup_date=pickup_date, status=DeliveryBatchStatus.IN_TRANSIT
    )
    if await insert_once(session, batch, conflict_columns=("leader_id", "pickup_date")):
        return batch
    # Another job instance created it meanwhile (unique per leader and date).
    return (await session.exec(query)).one()


async def claim_orders(
    session: AsyncSession, *, batch_id: int, leader_id: str, pickup_date: date, paid_before: datetime | None
) -> list[int]:
    """Put the leader's paid, unbatched orders into the batch; the guard makes each order join one batch only."""
    result = await session.exec(
        update(Order)
        .where(Order.leader_id == leader_id, *_eligible(pickup_date, paid_before))  # type: ignore[arg-type]
        .values(delivery_batch_id=batch_id)
        .returning(col(Order.id))
        .execution_options(synchronize_session=False)
    )
    return sorted(int(row[0]) for row in result.all())


async def units_per_product(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[tuple[int, str, int]]:
    query = (
        select(
            OrderLine.product_id,
            func.min(OrderLine.product_name),
            func.sum(col(OrderLine.quantity) - col(OrderLine.refunded_quantity)),
        )
        .where(col(OrderLine.order_id).in_(order_ids))
        .group_by(col(OrderLine.product_id))
        .order_by(col(OrderLine.product_id))
    )
    return [(int(p), str(n), int(q)) for p, n, q in (await session.exec(query)).all()]


async def add_to_pick_list(session: AsyncSession, *, batch_id: int, product_id: int, name: str, quantity: int) -> None:
    result = await session.exec(
        update(DeliveryBatchItem)
        .where(col(DeliveryBatchItem.batch_id) == batch_id, col(DeliveryBatchItem.product_id) == product_id)
        .values(quantity=col(DeliveryBatchItem.quantity) + quantity)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:
        session.add(DeliveryBatchItem(batch_id=batch_id, product_id=product_id, product_name=name, quantity=quantity))
        await session.flush()


async def count_orders(session: AsyncSession, *, batch_id: int, added: int) -> None:
    await session.exec(
        update(DeliveryBatch)
        .where(col(DeliveryBatch.id) == batch_id)
        .values(order_count=col(DeliveryBatch.order_count) + added)
        .execution_options(synchronize_session=False)
    )


async def mark_received(session: AsyncSession, *, batch_id: int, by: str, now: datetime) -> bool:
    result = await session.exec(
        update(DeliveryBatch)
        .where(col(DeliveryBatch.id) == batch_id, col(DeliveryBatch.status) == DeliveryBatchStatus.IN_TRANSIT)
        .values(status=DeliveryBatchStatus.RECEIVED, received_at=now, received_by=by)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def batch_order_ids(session: AsyncSession, batch_id: int) -> list[int]:
    query = select(Order.id).where(Order.delivery_batch_id == batch_id).order_by(col(Order.id))
    return [i for i in (await session.exec(query)).all() if i is not None]


async def pick_list(session: AsyncSession, batch_id: int) -> Sequence[DeliveryBatchItem]:
    query = (
        select(DeliveryBatchItem)
        .where(DeliveryBatchItem.batch_id == batch_id)
        .order_by(col(DeliveryBatchItem.product_id))
    )
    return (await session.exec(query)).all()


async def list_batches(
    session: AsyncSession,
    *,
    limit: int,
    after_id: int | None,
    leader_id: str | None,
    status: DeliveryBatchStatus | None,
    pickup_date: date | None = None,
) -> Sequence[DeliveryBatch]:
    query = select(DeliveryBatch).order_by(col(DeliveryBatch.id).desc()).limit(limit)
    if pickup_date is not None:
        query = query.where(DeliveryBatch.pickup_date == pickup_date)
    if after_id is not None:
        query = query.where(col(DeliveryBatch.id) < after_id)
    if leader_id is not None:
        query = query.where(DeliveryBatch.leader_id == leader_id)
    if status is not None:
        query = query.where(DeliveryBatch.status == status)
    return (await session.exec(query)).all()


# -- shortages at receipt ----------------------------------------------------------------------------------------


async def lock_waiting_orders(session: AsyncSession, batch_id: int) -> Sequence[Order]:
    """The batch's orders still waiting for their goods, locked in ascending id (the order every writer locks in)."""
    query = (
        select(Order)
        .where(
            Order.delivery_batch_id == batch_id,
            col(Order.status).in_([OrderStatus.PAID, OrderStatus.READY_FOR_PICKUP]),
        )
        .order_by(col(Order.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).all()


async def add_shortage(
    session: AsyncSession, shortage: DeliveryShortage, refunds: Sequence[DeliveryShortageRefund]
) -> None:
    session.add(shortage)
    await session.flush()
    assert shortage.id is not None
    for refund in refunds:
        refund.shortage_id = shortage.id
    session.add_all(refunds)
    await session.flush()


async def shortages_of_batches(session: AsyncSession, batch_ids: Sequence[int]) -> Sequence[DeliveryShortage]:
    if not batch_ids:
        return []
    query = (
        select(DeliveryShortage)
        .where(col(DeliveryShortage.batch_id).in_(batch_ids))
        .order_by(col(DeliveryShortage.batch_id), col(DeliveryShortage.product_id), col(DeliveryShortage.kind))
    )
    return (await session.exec(query)).all()


def _reported(day: date, leader_id: str | None) -> list[object]:
    conditions: list[object] = [DeliveryShortage.reported_on == day]
    if leader_id is not None:
        conditions.append(DeliveryShortage.leader_id == leader_id)
    return conditions


async def batches_short_on(
    session: AsyncSession, *, day: date, leader_id: str | None, after_id: int | None, limit: int
) -> Sequence[DeliveryBatch]:
    """Batches received on `day` (local) with shortages, in ascending id."""
    short = select(DeliveryShortage.batch_id).where(*_reported(day, leader_id))  # type: ignore[arg-type]
    query = select(DeliveryBatch).where(col(DeliveryBatch.id).in_(short)).order_by(col(DeliveryBatch.id)).limit(limit)
    if after_id is not None:
        query = query.where(col(DeliveryBatch.id) > after_id)
    return (await session.exec(query)).all()


async def shortage_totals_on(
    session: AsyncSession, *, day: date, leader_id: str | None
) -> Sequence[tuple[int, str, str, int, int, int]]:
    """(product id, name, kind, units reported, units refunded, fen refunded) of the day, per product and kind."""
    # SQLModel's select takes at most four columns; the others are added to it.
    query = (
        select(
            col(DeliveryShortage.product_id),
            col(DeliveryShortage.kind),
            func.min(col(DeliveryShortage.product_name)),
            func.sum(col(DeliveryShortage.quantity)),
        )
        .add_columns(func.sum(col(DeliveryShortage.refunded_quantity)), func.sum(col(DeliveryShortage.refund_fen)))
        .where(*_reported(day, leader_id))  # type: ignore[arg-type]
        .group_by(col(DeliveryShortage.product_id), col(DeliveryShortage.kind))
        .order_by(col(DeliveryShortage.product_id), col(DeliveryShortage.kind))
    )
    # `add_columns` gives SQLAlchemy's Select type, which SQLModel's `exec` runs as it is but does not declare.
    rows = (await session.exec(query)).all()  # type: ignore[call-overload]
    return [(int(p), str(n), str(k), int(q), int(r), int(f)) for p, k, n, q, r, f in rows]
