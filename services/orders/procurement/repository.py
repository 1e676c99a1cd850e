"""The SQL of procurement: the units of the orders of one pickup date, per SKU and per leader."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.orders.models import Order, OrderLine, OrderStatus
from services.orders.products.models import Product

#: Orders whose goods are bought and packed: paid, arrived, or already picked up (unpaid and cancelled ones are not).
SHIPPED = (OrderStatus.PAID, OrderStatus.READY_FOR_PICKUP, OrderStatus.PICKED_UP)


async def units_of_date(session: AsyncSession, pickup_date: date) -> Sequence[Any]:
    """Rows of (leader id, product id, SKU id, product name, SKU name, unit, units, paid, cost, cost known, orders)
    grouped by leader and SKU."""
    net = col(OrderLine.quantity) - col(OrderLine.refunded_quantity)
    # More columns than sqlmodel's typed `select` takes: SQLAlchemy's own.
    query = (
        select_columns(
            col(Order.leader_id),
            col(OrderLine.product_id),
            col(OrderLine.sku_id),
            func.min(OrderLine.product_name),
            func.min(OrderLine.sku_name),
            func.min(Product.unit),
            func.sum(net),
            func.sum(col(OrderLine.paid_fen) - col(OrderLine.refunded_fen)),
            func.sum(func.coalesce(OrderLine.cost_fen, 0) * net),
            func.min(case((col(OrderLine.cost_fen).is_(None), 0), else_=1)),
            func.count(func.distinct(Order.id)),
        )
        .join(OrderLine, col(OrderLine.order_id) == col(Order.id))
        .outerjoin(Product, col(Product.id) == col(OrderLine.product_id))
        .where(col(Order.pickup_date) == pickup_date, col(Order.status).in_(SHIPPED))
        .group_by(col(Order.leader_id), col(OrderLine.product_id), col(OrderLine.sku_id))
        .order_by(col(Order.leader_id), col(OrderLine.product_id), col(OrderLine.sku_id))
    )
    rows: Sequence[Any] = (await session.exec(query)).all()  # type: ignore[call-overload]
    return rows


async def orders_of_date(session: AsyncSession, pickup_date: date) -> Sequence[tuple[str, int, Any]]:
    """(leader id, order id, pickup point) of the date's shipped orders."""
    query = select(Order.leader_id, Order.id, Order.pickup_point).where(
        col(Order.pickup_date) == pickup_date, col(Order.status).in_(SHIPPED)
    )
    return [(str(leader), int(order_id or 0), point) for leader, order_id, point in (await session.exec(query)).all()]
