"""All SQL about flash sales. The stock decision is two guarded statements: one per buyer, one per sale."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import utcnow
from services.orders.flash_sales.models import FlashSale, FlashSalePurchase
from services.orders.orders import repository as orders_repository
from services.orders.orders.models import Order, OrderLine
from services.orders.products.models import Product


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


async def take_buyer_quota(session: AsyncSession, *, sale_id: int, user_id: str, quantity: int, limit: int) -> bool:
    """Count `quantity` more units against the buyer's limit; False when that would pass the limit.

    The row is unique per (sale, user): two parallel first purchases by one buyer cannot both insert it (on
    PostgreSQL the second waits for the first's commit and then hits the unique constraint).
    """
    now = utcnow()
    guarded = (
        update(FlashSalePurchase)
        .where(
            col(FlashSalePurchase.sale_id) == sale_id,
            col(FlashSalePurchase.user_id) == user_id,
            col(FlashSalePurchase.quantity) + quantity <= limit,
        )
        .values(quantity=col(FlashSalePurchase.quantity) + quantity, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if (await session.exec(guarded)).rowcount == 1:
        return True
    if quantity > limit:
        return False
    try:
        async with session.begin_nested():
            await session.exec(
                FlashSalePurchase.__table__.insert().values(  # type: ignore[attr-defined]
                    sale_id=sale_id, user_id=user_id, quantity=quantity, updated_at=now
                )
            )
    except IntegrityError:
        # The row exists: either it was there already (and the update found it over the limit) or a parallel
        # first purchase by the same buyer just committed it. Read committed sees it now; try the guard once more.
        return (await session.exec(guarded)).rowcount == 1
    return True


async def take_sale_stock(session: AsyncSession, *, sale_id: int, quantity: int, now: datetime) -> bool:
    # The window is checked on the row too: the terms a process cached may predate ops ending the sale early.
    result = await session.exec(
        update(FlashSale)
        .where(col(FlashSale.id) == sale_id, col(FlashSale.remaining) >= quantity, col(FlashSale.ends_at) > now)
        .values(remaining=col(FlashSale.remaining) - quantity)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def return_sale_units(session: AsyncSession, *, sale_id: int, user_id: str, quantity: int) -> None:
    """Give units of a cancelled order back to the sale and to the buyer's quota (called once per cancellation).

    A closed sale sells nothing more: its units go back to the product instead, counted on the sale. The guard on
    `closed_at` is re-checked after waiting for a closing transaction's row lock, so a unit goes one way only.
    """
    back_to_sale = await session.exec(
        update(FlashSale)
        .where(col(FlashSale.id) == sale_id, col(FlashSale.closed_at).is_(None))
        .values(remaining=col(FlashSale.remaining) + quantity)
        .execution_options(synchronize_session=False)
    )
    if back_to_sale.rowcount == 0:
        await session.exec(
            update(FlashSale)
            .where(col(FlashSale.id) == sale_id)
            .values(returned_to_product=col(FlashSale.returned_to_product) + quantity)
            .execution_options(synchronize_session=False)
        )
        product_id = (await session.exec(select(FlashSale.product_id).where(col(FlashSale.id) == sale_id))).one()
        await orders_repository.return_product_stock(session, product_id=product_id, quantity=quantity)
    await session.exec(
        update(FlashSalePurchase)
        .where(
            col(FlashSalePurchase.sale_id) == sale_id,
            col(FlashSalePurchase.user_id) == user_id,
            col(FlashSalePurchase.quantity) >= quantity,
        )
        .values(quantity=col(FlashSalePurchase.quantity) - quantity, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


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


async def close_sale(session: AsyncSession, *, sale_id: int, now: datetime) -> FlashSale | None:
    """Lock an open sale, move its unsold units back to the product, mark it closed. None if already closed.

    The sale's row is locked before the product's, the order a cancellation takes them in."""
    query = (
        select(FlashSale)
        .where(col(FlashSale.id) == sale_id, col(FlashSale.closed_at).is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    sale = (await session.exec(query)).first()
    if sale is None:
        return None
    unsold = sale.remaining
    await session.exec(
        update(FlashSale)
        .where(col(FlashSale.id) == sale_id)
        .values(remaining=0, returned_to_product=col(FlashSale.returned_to_product) + unsold, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    await orders_repository.return_product_stock(session, product_id=sale.product_id, quantity=unsold)
    return await get_sale(session, sale_id)


async def sale_ids_ending_after(session: AsyncSession, moment: datetime) -> list[int]:
    query = select(FlashSale.id).where(col(FlashSale.ends_at) > moment)
    return [int(i) for i in (await session.exec(query)).all() if i is not None]


async def tokens_with_orders(session: AsyncSession, tokens: Sequence[str]) -> set[str]:
    """The reservation tokens among `tokens` that an order row carries."""
    query = select(Order.flash_reservation).where(col(Order.flash_reservation).in_(tokens))
    return {token for token in (await session.exec(query)).all() if token is not None}


async def sale_is_open(session: AsyncSession, sale_id: int, now: datetime) -> bool:
    query = select(FlashSale.id).where(
        col(FlashSale.id) == sale_id, col(FlashSale.starts_at) <= now, col(FlashSale.ends_at) > now
    )
    return (await session.exec(query)).first() is not None


async def sale_remaining(session: AsyncSession, sale_id: int) -> int | None:
    query = select(FlashSale.remaining).where(FlashSale.id == sale_id)
    return (await session.exec(query)).first()


async def buyer_quantities(session: AsyncSession, sale_id: int) -> dict[str, int]:
    query = select(FlashSalePurchase.user_id, FlashSalePurchase.quantity).where(
        FlashSalePurchase.sale_id == sale_id, col(FlashSalePurchase.quantity) > 0
    )
    return {user: quantity for user, quantity in (await session.exec(query)).all()}


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


async def set_aside_product_stock(session: AsyncSession, *, product_id: int, quantity: int) -> bool:
    result = await session.exec(
        update(Product)
        .where(col(Product.id) == product_id, col(Product.stock) >= quantity)
        .values(stock=col(Product.stock) - quantity, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
