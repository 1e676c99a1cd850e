"""All SQL about orders, lines, the order log and refunds. Every status change names the status it expects."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Executable, Table, bindparam, delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.bulk import Bulk
from services.common.sql import insert_once
from services.orders.orders.models import (
    AbandonedHold,
    CustomerUnpaid,
    Order,
    OrderLine,
    OrderLog,
    OrderRefundStatus,
    OrderStatus,
    Refund,
    RefundLine,
    RefundProviderStatus,
)
from services.orders.products.group_buy_models import GroupBuy, GroupBuyItem, GroupBuyRegion
from services.orders.products.models import Product, ProductSku


async def products_by_id(session: AsyncSession, product_ids: Sequence[int]) -> Sequence[Product]:
    return (await session.exec(select(Product).where(col(Product.id).in_(product_ids)))).all()


async def skus_of_products(session: AsyncSession, product_ids: Sequence[int]) -> Sequence[ProductSku]:
    query = select(ProductSku).where(col(ProductSku.product_id).in_(product_ids)).order_by(col(ProductSku.id))
    return (await session.exec(query)).all()


async def get_group_buy(session: AsyncSession, group_buy_id: int) -> GroupBuy | None:
    return await session.get(GroupBuy, group_buy_id)


async def group_buy_regions(session: AsyncSession, group_buy_id: int) -> list[str]:
    query = select(GroupBuyRegion.region).where(col(GroupBuyRegion.group_buy_id) == group_buy_id)
    return list((await session.exec(query)).all())


async def group_buy_items(session: AsyncSession, group_buy_id: int) -> Sequence[GroupBuyItem]:
    query = select(GroupBuyItem).where(col(GroupBuyItem.group_buy_id) == group_buy_id).order_by(col(GroupBuyItem.id))
    return (await session.exec(query)).all()


async def insert_order(session: AsyncSession, order: Order) -> Order:
    session.add(order)
    await session.flush()
    return order


async def insert_lines(session: AsyncSession, lines: Sequence[OrderLine]) -> None:
    session.add_all(lines)
    await session.flush()


# Many orders at once (the flash-sale batch): statements over the same models, built once (`services.common.bulk`
# compiles each once), rows as dicts of column values; the columns left out take the model's defaults. Building
# ORM objects cost more than the statements.


def _bound(*columns: str) -> dict[str, Any]:
    """Values for an INSERT that binds each column to a parameter of the same name."""
    return {column: bindparam(column) for column in columns}


_INSERT_ORDER = insert(Order).values(
    _bound(
        "customer_id", "leader_id", "status", "goods_fen", "payable_fen", "flash_sale_id", "flash_reservation",
        "pickup_point", "pickup_date", "expires_at", "created_at", "updated_at",
    )
)  # fmt: skip
_INSERT_LINE = insert(OrderLine).values(
    _bound("order_id", "product_id", "product_name", "quantity", "unit_price_fen", "amount_fen", "paid_fen")
)
_INSERT_LOG = insert(OrderLog).values(_bound("order_id", "from_status", "to_status", "actor", "note", "created_at"))
_ORDER_ID = _INSERT_ORDER.returning(col(Order.id), sort_by_parameter_order=True)
_LINE_ID = _INSERT_LINE.returning(col(OrderLine.id), sort_by_parameter_order=True)


async def insert_many_orders(bulk: Bulk, orders: Sequence[dict[str, Any]]) -> list[int]:
    """Insert orders (the values of `_INSERT_ORDER`'s columns); their ids, in the order given."""
    return [int(row[0]) for row in await bulk.fetch(_ORDER_ID, orders)]


async def insert_many_lines(bulk: Bulk, lines: Sequence[dict[str, Any]]) -> list[int]:
    """Insert order lines (the values of `_INSERT_LINE`'s columns); their ids, in the order given."""
    return [int(row[0]) for row in await bulk.fetch(_LINE_ID, lines)]


async def add_many_logs(bulk: Bulk, entries: Sequence[dict[str, Any]]) -> None:
    await bulk.execute(_INSERT_LOG, entries)


async def add_log(
    session: AsyncSession,
    *,
    order_id: int,
    from_status: OrderStatus | None,
    to_status: OrderStatus,
    actor: str,
    note: str | None,
) -> None:
    session.add(OrderLog(order_id=order_id, from_status=from_status, to_status=to_status, actor=actor, note=note))
    await session.flush()


async def get_order(session: AsyncSession, order_id: int, *, for_update: bool = False) -> Order | None:
    query = select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def get_lines(session: AsyncSession, order_id: int) -> Sequence[OrderLine]:
    query = (
        select(OrderLine)
        .where(OrderLine.order_id == order_id)
        .order_by(col(OrderLine.id))
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).all()


async def get_lines_of(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[OrderLine]:
    if not order_ids:
        return []
    query = select(OrderLine).where(col(OrderLine.order_id).in_(order_ids)).order_by(col(OrderLine.id))
    return (await session.exec(query)).all()


async def change_status(
    session: AsyncSession, *, order_id: int, expected: OrderStatus | Sequence[OrderStatus], values: dict[str, Any]
) -> bool:
    """Move an order on only if it is still in the expected state; False means somebody else moved it first."""
    expected_states = [expected] if isinstance(expected, OrderStatus) else list(expected)
    result = await session.exec(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.status).in_(expected_states))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def update_order(session: AsyncSession, *, order_id: int, values: dict[str, Any]) -> None:
    await session.exec(
        update(Order).where(col(Order.id) == order_id).values(**values).execution_options(synchronize_session=False)
    )


async def list_orders(
    session: AsyncSession,
    *,
    limit: int,
    after_id: int | None,
    customer_id: str | None,
    leader_id: str | None,
    status: OrderStatus | None,
    pickup_date: date | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> Sequence[Order]:
    query = select(Order).order_by(col(Order.id).desc()).limit(limit)
    if pickup_date is not None:
        query = query.where(Order.pickup_date == pickup_date)
    if created_from is not None:
        query = query.where(col(Order.created_at) >= created_from)
    if created_to is not None:
        query = query.where(col(Order.created_at) < created_to)
    if after_id is not None:
        query = query.where(col(Order.id) < after_id)
    if customer_id is not None:
        query = query.where(Order.customer_id == customer_id)
    if leader_id is not None:
        query = query.where(Order.leader_id == leader_id)
    if status is not None:
        query = query.where(Order.status == status)
    return (await session.exec(query)).all()


async def expired_unpaid_order_ids(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[int]:
    query = (
        select(Order.id)
        .where(Order.status == OrderStatus.PENDING_PAYMENT, col(Order.expires_at) <= now)
        .order_by(col(Order.expires_at))
        .limit(limit)
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def get_log(session: AsyncSession, order_id: int) -> Sequence[OrderLog]:
    query = select(OrderLog).where(OrderLog.order_id == order_id).order_by(col(OrderLog.id))
    return (await session.exec(query)).all()


async def refund_line_units(
    session: AsyncSession,
    *,
    line_id: int,
    already: int,
    quantity: int,
    refund_fen: int,
    points: int,
    from_reserved: bool = False,
) -> bool:
    """Add refunded units to a line only if nobody refunded it meanwhile and the total stays within what was bought.
    Units of an approved after-sale request (`from_reserved`) come out of the line's reservation; any other refund
    takes only units nobody asked for."""
    guard = (
        col(OrderLine.reserved_quantity) >= quantity
        if from_reserved
        else col(OrderLine.refunded_quantity) + col(OrderLine.reserved_quantity) + quantity <= col(OrderLine.quantity)
    )
    values: dict[str, Any] = {
        "refunded_quantity": col(OrderLine.refunded_quantity) + quantity,
        "refunded_fen": col(OrderLine.refunded_fen) + refund_fen,
        "refunded_points": col(OrderLine.refunded_points) + points,
    }
    if from_reserved:
        values["reserved_quantity"] = col(OrderLine.reserved_quantity) - quantity
    result = await session.exec(
        update(OrderLine)
        .where(col(OrderLine.id) == line_id, col(OrderLine.refunded_quantity) == already, guard)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def reserve_line_units(session: AsyncSession, *, line_id: int, quantity: int) -> bool:
    """Set units aside for an after-sale request, only while bought - refunded - already reserved covers them: two
    requests racing for the last units cannot both get them."""
    result = await session.exec(
        update(OrderLine)
        .where(
            col(OrderLine.id) == line_id,
            col(OrderLine.refunded_quantity) + col(OrderLine.reserved_quantity) + quantity <= col(OrderLine.quantity),
        )
        .values(reserved_quantity=col(OrderLine.reserved_quantity) + quantity)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def release_line_units(session: AsyncSession, *, line_id: int, quantity: int) -> bool:
    result = await session.exec(
        update(OrderLine)
        .where(col(OrderLine.id) == line_id, col(OrderLine.reserved_quantity) >= quantity)
        .values(reserved_quantity=col(OrderLine.reserved_quantity) - quantity)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def add_refunded_to_order(
    session: AsyncSession, *, order_id: int, refund_fen: int, fully: bool, now: datetime
) -> None:
    await session.exec(
        update(Order)
        .where(col(Order.id) == order_id)
        .values(
            refunded_fen=col(Order.refunded_fen) + refund_fen,
            refund_status=OrderRefundStatus.FULL if fully else OrderRefundStatus.PARTIAL,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def insert_refund(session: AsyncSession, refund: Refund, lines: Sequence[RefundLine]) -> Refund | None:
    """Insert the refund with its lines; None when its `source_key` was refunded already (nothing is written)."""
    if refund.source_key is None:
        session.add(refund)
        await session.flush()
    elif not await insert_once(session, refund, conflict_columns=("source_key",)):
        return None
    assert refund.id is not None
    for line in lines:
        line.refund_id = refund.id
    session.add_all(lines)
    await session.flush()
    return refund


async def list_refunds(session: AsyncSession, order_id: int) -> Sequence[Refund]:
    query = select(Refund).where(Refund.order_id == order_id).order_by(col(Refund.id))
    return (await session.exec(query)).all()


async def refund_lines_of(session: AsyncSession, refund_ids: Sequence[int]) -> Sequence[RefundLine]:
    if not refund_ids:
        return []
    query = select(RefundLine).where(col(RefundLine.refund_id).in_(refund_ids)).order_by(col(RefundLine.id))
    return (await session.exec(query)).all()


async def pending_refund_ids(session: AsyncSession, *, limit: int) -> Sequence[int]:
    query = (
        select(Refund.id)
        .where(Refund.provider_status == RefundProviderStatus.PENDING)
        .order_by(col(Refund.id))
        .limit(limit)
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def mark_refund_sent(session: AsyncSession, *, refund_id: int, provider_refund_id: str, now: datetime) -> bool:
    result = await session.exec(
        update(Refund)
        .where(col(Refund.id) == refund_id, col(Refund.provider_status) == RefundProviderStatus.PENDING)
        .values(provider_status=RefundProviderStatus.SENT, provider_refund_id=provider_refund_id, sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def get_refund_by_key(session: AsyncSession, source_key: str) -> Refund | None:
    query = select(Refund).where(Refund.source_key == source_key).execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def get_refund(session: AsyncSession, refund_id: int) -> Refund | None:
    query = select(Refund).where(Refund.id == refund_id).execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def remember_abandoned_hold(session: AsyncSession, *, order_id: int, error: str, now: datetime) -> None:
    existing = await session.get(AbandonedHold, order_id)
    if existing is None:
        session.add(AbandonedHold(order_id=order_id, last_error=error[:500], created_at=now))
    await session.flush()


async def abandoned_holds(session: AsyncSession, *, limit: int) -> Sequence[AbandonedHold]:
    query = select(AbandonedHold).order_by(col(AbandonedHold.created_at)).limit(limit)
    return (await session.exec(query)).all()


async def forget_abandoned_hold(session: AsyncSession, order_id: int) -> None:
    await session.exec(delete(AbandonedHold).where(col(AbandonedHold.order_id) == order_id))


async def note_abandoned_hold_failure(session: AsyncSession, *, order_id: int, error: str) -> None:
    await session.exec(
        update(AbandonedHold)
        .where(col(AbandonedHold.order_id) == order_id)
        .values(attempts=AbandonedHold.attempts + 1, last_error=error[:500])
    )


async def existing_order_ids(session: AsyncSession, order_ids: Sequence[int]) -> set[int]:
    rows = await session.exec(select(Order.id).where(col(Order.id).in_(order_ids)))
    return {order_id for order_id in rows.all() if order_id is not None}


# -- what a customer holds unpaid ----------------------------------------------------------------------------------


@functools.cache
def _take_unpaid(dialect_name: str) -> Executable:
    table: Table = CustomerUnpaid.__table__  # type: ignore[attr-defined]
    statement = (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table).values(
        customer_id=bindparam("p_customer"), orders=1, units=bindparam("p_units"), updated_at=bindparam("p_now")
    )
    orders = table.c.orders + 1
    units = table.c.units + statement.excluded.units
    return statement.on_conflict_do_update(
        index_elements=[table.c.customer_id],
        set_={"orders": orders, "units": units, "updated_at": statement.excluded.updated_at},
        where=(orders <= bindparam("p_max_orders")) & (units <= bindparam("p_max_units")),
    ).returning(table.c.customer_id)


async def take_unpaid(
    session: AsyncSession, *, customer_id: str, units: int, max_orders: int, max_units: int, now: datetime
) -> bool:
    """Count one more unpaid order of `units` units for the customer; False when a cap would be exceeded. One row per
    customer: two first orders racing cannot both insert (the second waits for the first's row, then updates under
    the guard), so parallel orders hold at most the caps on SQLite and PostgreSQL alike. The caller checks that
    `units` alone is within `max_units` (a first insert is not guarded)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    params = {
        "p_customer": customer_id,
        "p_units": units,
        "p_now": now,
        "p_max_orders": max_orders,
        "p_max_units": max_units,
    }
    row = (await session.exec(_take_unpaid(dialect), params=params)).first()  # type: ignore[call-overload]
    return row is not None


async def get_unpaid(session: AsyncSession, customer_id: str) -> CustomerUnpaid | None:
    query = select(CustomerUnpaid).where(col(CustomerUnpaid.customer_id) == customer_id)
    return (await session.exec(query.execution_options(populate_existing=True))).first()


async def return_unpaid(session: AsyncSession, *, customer_id: str, units: int, now: datetime) -> None:
    """The customer's order left `pending_payment` (called once, by the winner of the status change). Guarded so
    an order placed before the counter existed can never push it below zero."""
    await session.exec(
        update(CustomerUnpaid)
        .where(
            col(CustomerUnpaid.customer_id) == customer_id,
            col(CustomerUnpaid.orders) >= 1,
            col(CustomerUnpaid.units) >= units,
        )
        .values(orders=col(CustomerUnpaid.orders) - 1, units=col(CustomerUnpaid.units) - units, updated_at=now)
        .execution_options(synchronize_session=False)
    )
