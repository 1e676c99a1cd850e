"""All SQL that writes the read model. Each fact is inserted once by its business key; counters are added with one
upsert per row (`INSERT … ON CONFLICT DO UPDATE`), which SQLite and PostgreSQL both run atomically."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.models import (
    community_members,
    flash_sales,
    leaders,
    memberships,
    orders,
    products,
    referrals,
    refunds,
    sign_ins,
)


def _insert(conn: AsyncConnection, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (both dialects spell it the same way)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def insert_once(conn: AsyncConnection, table: Table, values: Mapping[str, Any]) -> bool:
    """Insert a row unless its primary key (or a unique key) exists; True when this call inserted it."""
    result = await conn.execute(_insert(conn, table).values(**values).on_conflict_do_nothing())
    return result.rowcount == 1


async def add_to(conn: AsyncConnection, table: Table, keys: Mapping[str, Any], amounts: Mapping[str, int]) -> None:
    """Add `amounts` to the counters of the row at `keys`, creating it at zero first."""
    statement = _insert(conn, table).values(**keys, **amounts)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(keys), set_={name: table.c[name] + statement.excluded[name] for name in amounts}
        )
    )


def _earliest(column: ColumnElement[Any], candidate: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((or_(column.is_(None), candidate < column), candidate), else_=column)


def _latest(column: ColumnElement[Any], candidate: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((or_(column.is_(None), candidate > column), candidate), else_=column)


# -- leaders --------------------------------------------------------------------------------------------------------


async def ensure_leader(conn: AsyncConnection, leader_id: str) -> None:
    """Any event naming a leader makes it known (its manager and level come with leader.updated)."""
    await insert_once(conn, leaders, {"leader_id": leader_id})


async def set_leader_state(conn: AsyncConnection, leader_id: str, values: Mapping[str, Any], at: datetime) -> None:
    """Newer state wins: a leader's events arrive in order, and a replay of an older one never undoes a newer."""
    await ensure_leader(conn, leader_id)
    await conn.execute(
        update(leaders)
        .where(leaders.c.leader_id == leader_id, or_(leaders.c.state_at.is_(None), leaders.c.state_at <= at))
        .values(**values, state_at=at)
    )


async def add_members_now(conn: AsyncConnection, leader_id: str, change: int) -> None:
    await conn.execute(
        update(leaders).where(leaders.c.leader_id == leader_id).values(members_now=leaders.c.members_now + change)
    )


# -- memberships ----------------------------------------------------------------------------------------------------


async def has_open_membership(conn: AsyncConnection, *, leader_id: str, customer_id: str) -> bool:
    query = select(literal(1)).where(
        memberships.c.leader_id == leader_id, memberships.c.customer_id == customer_id, memberships.c.left_at.is_(None)
    )
    return (await conn.execute(query)).first() is not None


async def open_membership(conn: AsyncConnection, *, leader_id: str, customer_id: str, at: datetime, day: date) -> bool:
    return await insert_once(
        conn,
        memberships,
        {"leader_id": leader_id, "customer_id": customer_id, "joined_at": at, "joined_on": day},
    )


async def close_membership(conn: AsyncConnection, *, leader_id: str, customer_id: str, at: datetime, day: date) -> bool:
    result = await conn.execute(
        update(memberships)
        .where(
            memberships.c.leader_id == leader_id,
            memberships.c.customer_id == customer_id,
            memberships.c.left_at.is_(None),
            memberships.c.joined_at <= at,
        )
        .values(left_at=at, left_on=day)
    )
    return result.rowcount == 1


async def mark_joined(conn: AsyncConnection, *, leader_id: str, customer_id: str, day: date) -> None:
    cm = community_members
    statement = _insert(conn, cm).values(
        leader_id=leader_id, customer_id=customer_id, is_member=True, first_joined_on=day, joined_on=day, left_on=None
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["leader_id", "customer_id"],
            set_={
                "is_member": True,
                "joined_on": statement.excluded.joined_on,
                "left_on": None,
                "first_joined_on": _earliest(cm.c.first_joined_on, statement.excluded.first_joined_on),
            },
        )
    )


async def mark_left(conn: AsyncConnection, *, leader_id: str, customer_id: str, day: date) -> None:
    await conn.execute(
        update(community_members)
        .where(community_members.c.leader_id == leader_id, community_members.c.customer_id == customer_id)
        .values(is_member=False, left_on=day)
    )


async def add_member_sales(
    conn: AsyncConnection,
    *,
    leader_id: str,
    customer_id: str,
    orders_added: int,
    gmv_fen: int,
    refunds_fen: int,
    order_day: date | None,
) -> None:
    """All-time figures of one person at one leader; a person seen buying before their join gets a row too."""
    cm = community_members
    statement = _insert(conn, cm).values(
        leader_id=leader_id,
        customer_id=customer_id,
        orders=orders_added,
        gmv_fen=gmv_fen,
        refunds_fen=refunds_fen,
        net_sales_fen=gmv_fen - refunds_fen,
        first_order_on=order_day,
        last_order_on=order_day,
    )
    changes: dict[str, Any] = {
        "orders": cm.c.orders + statement.excluded.orders,
        "gmv_fen": cm.c.gmv_fen + statement.excluded.gmv_fen,
        "refunds_fen": cm.c.refunds_fen + statement.excluded.refunds_fen,
        "net_sales_fen": cm.c.net_sales_fen + statement.excluded.net_sales_fen,
    }
    if order_day is not None:
        changes["first_order_on"] = _earliest(cm.c.first_order_on, statement.excluded.first_order_on)
        changes["last_order_on"] = _latest(cm.c.last_order_on, statement.excluded.last_order_on)
    await conn.execute(statement.on_conflict_do_update(index_elements=["leader_id", "customer_id"], set_=changes))


# -- orders ---------------------------------------------------------------------------------------------------------


async def record_order_placed(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    if await insert_once(conn, orders, values):
        return
    await conn.execute(
        update(orders)
        .where(orders.c.order_id == values["order_id"], orders.c.placed_at.is_(None))
        .values(placed_at=values["placed_at"], units=values["units"], flash_sale_id=values["flash_sale_id"])
    )


async def record_order_paid(conn: AsyncConnection, values: Mapping[str, Any]) -> bool:
    """True when this call recorded the payment (the first time this order's payment is seen)."""
    if await insert_once(conn, orders, values):
        return True
    paid = {k: values[k] for k in ("paid_at", "paid_on", "paid_hour", "paid_fen", "units", "flash_sale_id")}
    result = await conn.execute(
        update(orders).where(orders.c.order_id == values["order_id"], orders.c.paid_at.is_(None)).values(**paid)
    )
    return result.rowcount == 1


async def record_order_moment(conn: AsyncConnection, *, column: str, values: Mapping[str, Any]) -> bool:
    """Set `picked_up_at` or `cancelled_at` once; True when this call set it."""
    if await insert_once(conn, orders, values):
        return True
    result = await conn.execute(
        update(orders)
        .where(orders.c.order_id == values["order_id"], orders.c[column].is_(None))
        .values({column: values[column]})
    )
    return result.rowcount == 1


async def record_refund(conn: AsyncConnection, values: Mapping[str, Any]) -> bool:
    if not await insert_once(conn, refunds, values):
        return False
    await conn.execute(
        update(orders)
        .where(orders.c.order_id == values["order_id"])
        .values(refunded_fen=orders.c.refunded_fen + values["refund_fen"])
    )
    return True


async def name_products(conn: AsyncConnection, names: Mapping[int, str]) -> None:
    """Keep the latest name seen for each product (names change; figures key on the id)."""
    for product_id, name in sorted(names.items()):
        statement = _insert(conn, products).values(product_id=product_id, name=name)
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["product_id"],
                set_={"name": statement.excluded.name},
                where=and_(products.c.name != statement.excluded.name),
            )
        )


# -- flash sales, sign-ins, referrals ------------------------------------------------------------------------------


async def record_flash_sale(conn: AsyncConnection, values: Mapping[str, Any]) -> bool:
    return await insert_once(conn, flash_sales, values)


async def record_sign_in(conn: AsyncConnection, *, user_id: str, day: date, hour: int) -> bool:
    return await insert_once(conn, sign_ins, {"user_id": user_id, "day": day, "hour": hour})


async def record_referral(conn: AsyncConnection, *, invitee_id: str, inviter_id: str, day: date) -> bool:
    return await insert_once(conn, referrals, {"invitee_id": invitee_id, "inviter_id": inviter_id, "bound_on": day})
