"""All SQL about flash sales but their units (`services.orders.inventory` takes and returns those)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.inventory.models import FlashSale
from services.orders.orders.models import Order, OrderLine


async def insert_sale(session: AsyncSession, sale: FlashSale) -> FlashSale:
    session.add(sale)
    await session.flush()
    return sale


async def get_sale(session: AsyncSession, sale_id: int) -> FlashSale | None:
    query = select(FlashSale).where(FlashSale.id == sale_id).execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def list_sales(session: AsyncSession, *, limit: int, after_id: int | None) -> Sequence[FlashSale]:
    query = select(FlashSale).order_by(col(FlashSale.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(FlashSale.id) < after_id)
    return (await session.exec(query)).all()


async def end_sale(session: AsyncSession, *, sale_id: int, now: datetime) -> FlashSale | None:
    """Move the end of a running or future sale to `now` (a future one's start too: its window is then empty and
    past). The sale's row is locked, so a purchase's guarded stock update either ran before or sees the new end.
    None if there is no such sale; a sale already over is left as it is."""
    query = select(FlashSale).where(col(FlashSale.id) == sale_id).with_for_update()
    sale = (await session.exec(query.execution_options(populate_existing=True))).first()
    if sale is None or sale.ends_at <= now:
        return sale
    starts = min(sale.starts_at, now - timedelta(milliseconds=1))
    await session.exec(
        update(FlashSale)
        .where(col(FlashSale.id) == sale_id)
        .values(starts_at=starts, ends_at=now)
        .execution_options(synchronize_session=False)
    )
    return await get_sale(session, sale_id)


async def ended_open_sale_ids(session: AsyncSession, *, ended_before: datetime, limit: int) -> Sequence[int]:
    query = (
        select(FlashSale.id)
        .where(col(FlashSale.closed_at).is_(None), col(FlashSale.ends_at) <= ended_before)
        .order_by(col(FlashSale.id))
        .limit(limit)
    )
    return [int(i) for i in (await session.exec(query)).all() if i is not None]


async def sale_ids_ending_after(session: AsyncSession, moment: datetime) -> list[int]:
    query = select(FlashSale.id).where(col(FlashSale.ends_at) > moment)
    return [int(i) for i in (await session.exec(query)).all() if i is not None]


async def tokens_with_orders(session: AsyncSession, tokens: Sequence[str]) -> set[str]:
    """The reservation tokens among `tokens` that an order row carries."""
    query = select(Order.flash_reservation).where(col(Order.flash_reservation).in_(tokens))
    return {token for token in (await session.exec(query)).all() if token is not None}


async def live_reservations(session: AsyncSession, sale_id: int) -> dict[str, tuple[str, int]]:
    """Reservation token → (buyer, units) for the sale's orders that still hold stock (not cancelled)."""
    query = (
        select(Order.flash_reservation, Order.customer_id, func.sum(OrderLine.quantity))
        .join(OrderLine, col(OrderLine.order_id) == col(Order.id))
        .where(
            Order.flash_sale_id == sale_id,
            Order.status != "cancelled",
            col(Order.flash_reservation).is_not(None),
        )
        .group_by(col(Order.flash_reservation), col(Order.customer_id))
    )
    return {str(token): (customer, int(units)) for token, customer, units in (await session.exec(query)).all()}


async def sold_units(session: AsyncSession, sale_id: int) -> int:
    """Units on the sale's orders that were not cancelled (pending or paid, refunded or not)."""
    query = (
        select(func.coalesce(func.sum(OrderLine.quantity), 0))
        .join(Order, col(OrderLine.order_id) == col(Order.id))
        .where(Order.flash_sale_id == sale_id, Order.status != "cancelled")
    )
    return int((await session.exec(query)).one())
