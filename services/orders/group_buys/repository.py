"""All SQL about group-buys: their terms, the listing by region and date, and what the close reads and decides."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.orders.orders.models import Order, OrderLine, OrderStatus
from services.orders.products.group_buy_models import (
    GroupBuy,
    GroupBuyItem,
    GroupBuyOutcome,
    GroupBuyRegion,
)
from services.orders.products.models import Product, ProductSku

#: Orders whose units count towards a community's minimum and are cancelled or refunded below it.
COUNTED = (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.READY_FOR_PICKUP, OrderStatus.PICKED_UP)


async def insert_group_buy(
    session: AsyncSession, group_buy: GroupBuy, regions: Sequence[str], items: Sequence[GroupBuyItem]
) -> GroupBuy:
    session.add(group_buy)
    await session.flush()
    assert group_buy.id is not None
    session.add_all([GroupBuyRegion(group_buy_id=group_buy.id, region=r) for r in sorted(set(regions))])
    for item in items:
        item.group_buy_id = group_buy.id
    session.add_all(items)
    await session.flush()
    return group_buy


async def get_group_buy(session: AsyncSession, group_buy_id: int) -> GroupBuy | None:
    query = select(GroupBuy).where(col(GroupBuy.id) == group_buy_id).execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def regions_of(session: AsyncSession, group_buy_ids: Collection[int]) -> dict[int, list[str]]:
    query = (
        select(GroupBuyRegion.group_buy_id, GroupBuyRegion.region)
        .where(col(GroupBuyRegion.group_buy_id).in_(group_buy_ids))
        .order_by(col(GroupBuyRegion.region))
    )
    found: dict[int, list[str]] = {}
    for group_buy_id, region in (await session.exec(query)).all():
        found.setdefault(group_buy_id, []).append(region)
    return found


async def items_of(
    session: AsyncSession, group_buy_ids: Collection[int]
) -> Sequence[tuple[GroupBuyItem, str, str | None]]:
    """Items with their product's and SKU's names."""
    query = (
        select(GroupBuyItem, Product.name, ProductSku.name)
        .join(Product, col(Product.id) == col(GroupBuyItem.product_id))
        .outerjoin(ProductSku, col(ProductSku.id) == col(GroupBuyItem.sku_id))
        .where(col(GroupBuyItem.group_buy_id).in_(group_buy_ids))
        .order_by(col(GroupBuyItem.id))
    )
    return [(item, str(name), sku) for item, name, sku in (await session.exec(query)).all()]


async def list_group_buys(
    session: AsyncSession,
    *,
    limit: int,
    after_id: int | None,
    regions: Collection[str] | None,
    pickup_date: date | None,
    ends_after: datetime | None,
) -> Sequence[GroupBuy]:
    query = select(GroupBuy).order_by(col(GroupBuy.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(GroupBuy.id) < after_id)
    if regions is not None:
        served = select(GroupBuyRegion.group_buy_id).where(col(GroupBuyRegion.region).in_(regions))
        query = query.where(col(GroupBuy.id).in_(served))
    if pickup_date is not None:
        query = query.where(GroupBuy.pickup_date == pickup_date)
    if ends_after is not None:
        query = query.where(col(GroupBuy.ends_at) > ends_after)
    return (await session.exec(query)).all()


async def count_group_buys(
    session: AsyncSession, *, regions: Collection[str] | None, pickup_date: date | None, ends_after: datetime | None
) -> int:
    query = select(func.count()).select_from(GroupBuy)
    if regions is not None:
        served = select(GroupBuyRegion.group_buy_id).where(col(GroupBuyRegion.region).in_(regions))
        query = query.where(col(GroupBuy.id).in_(served))
    if pickup_date is not None:
        query = query.where(GroupBuy.pickup_date == pickup_date)
    if ends_after is not None:
        query = query.where(col(GroupBuy.ends_at) > ends_after)
    return int((await session.exec(query)).one())


# -- the close -----------------------------------------------------------------------------------------------------


async def ended_unclosed(session: AsyncSession, *, ended_before: datetime, limit: int) -> list[int]:
    query = (
        select(GroupBuy.id)
        .where(col(GroupBuy.ends_at) <= ended_before, col(GroupBuy.closed_at).is_(None))
        .order_by(col(GroupBuy.ends_at))
        .limit(limit)
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def minimums(session: AsyncSession, group_buy_id: int) -> dict[int, int]:
    """Product id → the units a community must reach (the largest minimum among the product's items)."""
    query = (
        select(GroupBuyItem.product_id, func.max(GroupBuyItem.min_per_community))
        .where(col(GroupBuyItem.group_buy_id) == group_buy_id, col(GroupBuyItem.min_per_community).is_not(None))
        .group_by(col(GroupBuyItem.product_id))
    )
    return {int(p): int(m or 0) for p, m in (await session.exec(query)).all()}


async def communities_of_product(session: AsyncSession, *, group_buy_id: int, product_id: int) -> list[str]:
    query = (
        select(Order.leader_id)
        .join(OrderLine, col(OrderLine.order_id) == col(Order.id))
        .where(
            col(Order.group_buy_id) == group_buy_id,
            col(OrderLine.product_id) == product_id,
            col(Order.status).in_(COUNTED),
        )
        .distinct()
        .order_by(col(Order.leader_id))
    )
    return list((await session.exec(query)).all())


async def community_lines(
    session: AsyncSession, *, group_buy_id: int, product_id: int, leader_id: str
) -> Sequence[tuple[int, OrderStatus, int, int]]:
    """(order id, order status, line id, units neither refunded nor reserved by an open after-sale request) of the
    community's lines of the product."""
    units = col(OrderLine.quantity) - col(OrderLine.refunded_quantity) - col(OrderLine.reserved_quantity)
    query = (
        select(Order.id, Order.status, OrderLine.id, units)
        .join(OrderLine, col(OrderLine.order_id) == col(Order.id))
        .where(
            col(Order.group_buy_id) == group_buy_id,
            col(Order.leader_id) == leader_id,
            col(OrderLine.product_id) == product_id,
            col(Order.status).in_(COUNTED),
        )
        .order_by(col(Order.id), col(OrderLine.id))
    )
    rows = (await session.exec(query)).all()
    return [(int(o or 0), OrderStatus(s), int(line or 0), int(q)) for o, s, line, q in rows]


async def record_outcome(session: AsyncSession, outcome: GroupBuyOutcome) -> bool:
    """True if this (group-buy, product, community) was not decided before: the close's once-only guard."""
    return await insert_once(session, outcome, conflict_columns=("group_buy_id", "product_id", "leader_id"))


async def note_affected(session: AsyncSession, *, outcome_id: int, orders: int) -> None:
    await session.exec(
        update(GroupBuyOutcome)
        .where(col(GroupBuyOutcome.id) == outcome_id)
        .values(orders_affected=orders)
        .execution_options(synchronize_session=False)
    )


async def mark_closed(session: AsyncSession, *, group_buy_id: int, now: datetime) -> bool:
    result = await session.exec(
        update(GroupBuy)
        .where(col(GroupBuy.id) == group_buy_id, col(GroupBuy.closed_at).is_(None))
        .values(closed_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def outcomes(session: AsyncSession, group_buy_id: int) -> Sequence[GroupBuyOutcome]:
    query = (
        select(GroupBuyOutcome)
        .where(col(GroupBuyOutcome.group_buy_id) == group_buy_id)
        .order_by(col(GroupBuyOutcome.product_id), col(GroupBuyOutcome.leader_id))
    )
    return (await session.exec(query)).all()
