"""All SQL that reads the figures. `leader_id=None` means the whole platform. Each query reads one index range:
a leader's days (`leader_daily`, `member_daily`, `leader_product_daily` are keyed leader → day), the platform's days,
or one leader's people."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.models import (
    community_members,
    flash_sales,
    leader_daily,
    leader_monthly,
    leader_product_daily,
    leaders,
    member_daily,
    orders,
    platform_daily,
    product_daily,
    products,
    referrals,
    sign_ins,
)

DAY_FIGURES = (
    "joins",
    "leaves",
    "orders",
    "units",
    "points_used",
    "picked_up",
    "refund_count",
    "gmv_fen",
    "refunds_fen",
)


@dataclass(frozen=True, slots=True)
class LeaderRow:
    leader_id: str
    manager_id: str | None
    level: str | None
    status: str | None
    members_now: int


async def get_leader(conn: AsyncConnection, leader_id: str) -> LeaderRow | None:
    row = (
        await conn.execute(
            select(
                leaders.c.leader_id, leaders.c.manager_id, leaders.c.level, leaders.c.status, leaders.c.members_now
            ).where(leaders.c.leader_id == leader_id)
        )
    ).first()
    return LeaderRow(*row) if row is not None else None


def _days_table(leader_id: str | None) -> Any:
    return leader_daily if leader_id is not None else platform_daily


def _scoped(query: Select[Any], table: Any, leader_id: str | None) -> Select[Any]:
    return query.where(table.c.leader_id == leader_id) if leader_id is not None else query


async def members_at(conn: AsyncConnection, leader_id: str | None, day: date) -> int:
    """Members at the end of `day`: every join minus every leave dated on or before it."""
    t = _days_table(leader_id)
    query = _scoped(select(func.coalesce(func.sum(t.c.joins - t.c.leaves), 0)).where(t.c.day <= day), t, leader_id)
    return int((await conn.execute(query)).scalar_one())


async def day_rows(conn: AsyncConnection, leader_id: str | None, start: date, end: date) -> dict[date, dict[str, int]]:
    t = _days_table(leader_id)
    query = _scoped(
        select(t.c.day, *(t.c[name] for name in DAY_FIGURES)).where(t.c.day >= start, t.c.day <= end), t, leader_id
    )
    return {row.day: {name: int(row._mapping[name]) for name in DAY_FIGURES} for row in await conn.execute(query)}


def _buyers(leader_id: str | None, start: date, end: date, *, by_day: bool) -> Select[Any]:
    """One row per buyer (per day when `by_day`) with their paid orders: a person buying at two leaders is one."""
    keys = [member_daily.c.day, member_daily.c.customer_id] if by_day else [member_daily.c.customer_id]
    query = (
        select(*keys, func.sum(member_daily.c.orders).label("n"))
        .where(member_daily.c.day >= start, member_daily.c.day <= end, member_daily.c.orders > 0)
        .group_by(*keys)
    )
    return _scoped(query, member_daily, leader_id)


async def buyers_in_range(conn: AsyncConnection, leader_id: str | None, start: date, end: date) -> tuple[int, int]:
    """(active buyers, buyers with at least two paid orders) over the range."""
    per_buyer = _buyers(leader_id, start, end, by_day=False).subquery()
    query = select(func.count(), func.coalesce(func.sum(case((per_buyer.c.n >= 2, 1), else_=0)), 0))
    row = (await conn.execute(query.select_from(per_buyer))).one()
    return int(row[0]), int(row[1])


async def buyers_by_day(
    conn: AsyncConnection, leader_id: str | None, start: date, end: date
) -> dict[date, tuple[int, int]]:
    per_buyer = _buyers(leader_id, start, end, by_day=True).subquery()
    query = (
        select(per_buyer.c.day, func.count(), func.sum(case((per_buyer.c.n >= 2, 1), else_=0)))
        .select_from(per_buyer)
        .group_by(per_buyer.c.day)
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in await conn.execute(query)}


async def top_products(
    conn: AsyncConnection, leader_id: str | None, start: date, end: date, *, limit: int
) -> Sequence[Any]:
    t = leader_product_daily if leader_id is not None else product_daily
    net = func.sum(t.c.gmv_fen) - func.sum(t.c.refunds_fen)
    grouped = _scoped(
        select(
            t.c.product_id,
            func.sum(t.c.lines).label("lines"),
            func.sum(t.c.units).label("units"),
            func.sum(t.c.refunded_units).label("refunded_units"),
            func.sum(t.c.gmv_fen).label("gmv_fen"),
            func.sum(t.c.refunds_fen).label("refunds_fen"),
            net.label("net_sales_fen"),
        )
        .where(t.c.day >= start, t.c.day <= end)
        .group_by(t.c.product_id)
        .order_by(net.desc(), t.c.product_id)
        .limit(limit),
        t,
        leader_id,
    ).subquery()
    query = (
        select(grouped, products.c.name)
        .select_from(grouped.outerjoin(products, products.c.product_id == grouped.c.product_id))
        .order_by(grouped.c.net_sales_fen.desc(), grouped.c.product_id)
    )
    return (await conn.execute(query)).all()


def _current_members(leader_id: str) -> Select[Any]:
    return select(community_members.c.customer_id).where(
        community_members.c.leader_id == leader_id, community_members.c.is_member.is_(True)
    )


async def referrals_in_range(conn: AsyncConnection, leader_id: str | None, start: date, end: date) -> int:
    query = select(func.count()).where(referrals.c.bound_on >= start, referrals.c.bound_on <= end)
    if leader_id is not None:
        query = query.where(referrals.c.inviter_id.in_(_current_members(leader_id)))
    return int((await conn.execute(query)).scalar_one())


async def orders_by_hour(conn: AsyncConnection, leader_id: str | None, start: date, end: date) -> dict[int, int]:
    query = _scoped(
        select(orders.c.paid_hour, func.count())
        .where(orders.c.paid_on >= start, orders.c.paid_on <= end)
        .group_by(orders.c.paid_hour),
        orders,
        leader_id,
    )
    return {int(hour): int(n) for hour, n in await conn.execute(query)}


async def sign_ins_by_hour(conn: AsyncConnection, leader_id: str | None, start: date, end: date) -> dict[int, int]:
    query = (
        select(sign_ins.c.hour, func.count())
        .where(sign_ins.c.day >= start, sign_ins.c.day <= end)
        .group_by(sign_ins.c.hour)
    )
    if leader_id is not None:
        query = query.where(sign_ins.c.user_id.in_(_current_members(leader_id)))
    return {int(hour): int(n) for hour, n in await conn.execute(query)}


# -- cohorts --------------------------------------------------------------------------------------------------------


async def cohort_members(conn: AsyncConnection, leader_id: str, since: date) -> list[tuple[str, date]]:
    cm = community_members
    query = select(cm.c.customer_id, cm.c.first_joined_on).where(
        cm.c.leader_id == leader_id, cm.c.first_joined_on >= since
    )
    return [(row[0], row[1]) for row in await conn.execute(query)]


async def buying_days(conn: AsyncConnection, leader_id: str, since: date) -> list[tuple[str, date]]:
    md = member_daily
    query = select(md.c.customer_id, md.c.day).where(md.c.leader_id == leader_id, md.c.day >= since, md.c.orders > 0)
    return [(row[0], row[1]) for row in await conn.execute(query)]


# -- every leader at once (rankings, alerts, rank) -----------------------------------------------------------------


async def leaders_in_range(
    conn: AsyncConnection, start: date, end: date, *, manager_id: str | None
) -> list[dict[str, Any]]:
    """Each leader's range figures and members at both ends of the range.

    Members at a date come from `members_now` minus the net joins dated after it, so only days from `start` on are
    read (not each leader's whole history).
    """
    d = leader_daily
    in_range = and_(d.c.day >= start, d.c.day <= end)

    def in_range_sum(column: Any) -> Any:
        return func.coalesce(func.sum(case((in_range, column), else_=0)), 0)

    days = (
        select(
            d.c.leader_id,
            func.sum(d.c.joins - d.c.leaves).label("net_from_start"),
            func.coalesce(func.sum(case((d.c.day > end, d.c.joins - d.c.leaves), else_=0)), 0).label("net_after_end"),
            in_range_sum(d.c.joins).label("joins"),
            in_range_sum(d.c.leaves).label("leaves"),
            in_range_sum(d.c.orders).label("orders"),
            in_range_sum(d.c.gmv_fen).label("gmv_fen"),
            in_range_sum(d.c.refunds_fen).label("refunds_fen"),
        )
        .where(d.c.day >= start)
        .group_by(d.c.leader_id)
        .subquery()
    )
    query = select(
        leaders.c.leader_id,
        leaders.c.manager_id,
        leaders.c.level,
        leaders.c.members_now,
        func.coalesce(days.c.net_from_start, 0),
        func.coalesce(days.c.net_after_end, 0),
        func.coalesce(days.c.joins, 0),
        func.coalesce(days.c.leaves, 0),
        func.coalesce(days.c.orders, 0),
        func.coalesce(days.c.gmv_fen, 0),
        func.coalesce(days.c.refunds_fen, 0),
    ).select_from(leaders.outerjoin(days, days.c.leader_id == leaders.c.leader_id))
    if manager_id is not None:
        query = query.where(leaders.c.manager_id == manager_id)
    result = []
    for row in await conn.execute(query):
        leader_id, manager, level, now, net_from_start, net_after_end, joined, left, n_orders, gmv, refunds = row
        result.append(
            {
                "leader_id": leader_id,
                "manager_id": manager,
                "level": level,
                "members_at_start": int(now) - int(net_from_start),
                "members_total": int(now) - int(net_after_end),
                "members_joined": int(joined),
                "members_left": int(left),
                "orders": int(n_orders),
                "gmv_fen": int(gmv),
                "refunds_fen": int(refunds),
            }
        )
    return result


async def buyers_by_leader(conn: AsyncConnection, start: date, end: date, *, manager_id: str | None) -> dict[str, int]:
    md = member_daily
    per_buyer = (
        select(md.c.leader_id, md.c.customer_id)
        .where(md.c.day >= start, md.c.day <= end, md.c.orders > 0)
        .group_by(md.c.leader_id, md.c.customer_id)
    )
    if manager_id is not None:
        per_buyer = per_buyer.where(
            md.c.leader_id.in_(select(leaders.c.leader_id).where(leaders.c.manager_id == manager_id))
        )
    sub = per_buyer.subquery()
    query = select(sub.c.leader_id, func.count()).group_by(sub.c.leader_id)
    return {leader_id: int(n) for leader_id, n in await conn.execute(query)}


async def month_row(conn: AsyncConnection, leader_id: str, month: date) -> dict[str, int]:
    m = leader_monthly
    names = ("joins", "leaves", "orders", "gmv_fen", "refunds_fen", "net_sales_fen")
    row = (
        await conn.execute(select(*(m.c[n] for n in names)).where(m.c.leader_id == leader_id, m.c.month == month))
    ).first()
    return {n: int(row._mapping[n]) if row is not None else 0 for n in names}


async def rank_in_month(conn: AsyncConnection, month: date, net_sales_fen: int) -> tuple[int, int]:
    """(1 + leaders with higher net sales this month, leaders known). A leader with no row this month has 0."""
    m = leader_monthly
    higher = int(
        (
            await conn.execute(select(func.count()).where(m.c.month == month, m.c.net_sales_fen > net_sales_fen))
        ).scalar_one()
    )
    known = await leaders_known(conn)
    if net_sales_fen < 0:
        with_rows = int((await conn.execute(select(func.count()).where(m.c.month == month))).scalar_one())
        higher += known - with_rows
    return higher + 1, known


# -- flash sales ----------------------------------------------------------------------------------------------------


async def flash_sales_starting(conn: AsyncConnection, start: date, end: date) -> Sequence[Any]:
    query = (
        select(flash_sales, products.c.name.label("current_name"))
        .select_from(flash_sales.outerjoin(products, products.c.product_id == flash_sales.c.product_id))
        .where(flash_sales.c.starts_on >= start, flash_sales.c.starts_on <= end)
        .order_by(flash_sales.c.starts_at, flash_sales.c.flash_sale_id)
    )
    return (await conn.execute(query)).all()


async def flash_sale_orders(conn: AsyncConnection, sale_ids: Sequence[int]) -> Sequence[Any]:
    if not sale_ids:
        return []
    query = select(
        orders.c.flash_sale_id,
        orders.c.order_id,
        orders.c.units,
        orders.c.placed_at,
        orders.c.paid_at,
        orders.c.paid_fen,
        orders.c.cancelled_at,
    ).where(orders.c.flash_sale_id.in_(sale_ids))
    return (await conn.execute(query)).all()


async def leaders_known(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(leaders))).scalar_one())
