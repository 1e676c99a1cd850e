"""All SQL that writes the read model. Each fact is inserted once by its business key; counters are added with one
upsert per row (`INSERT … ON CONFLICT DO UPDATE`), which SQLite and PostgreSQL both run atomically.

Counter additions (the roll-ups, a person's all-time figures, product names) never decide what a handler does
next, so inside `counters_written_together` they are summed in memory and written once per row at the end: a
rebuild applies a page of events in one transaction that way, with one statement per table instead of several per
event. Facts are always written at once: whether one is new decides whether its figures count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, case, literal, or_, select, update
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


async def insert_returning_new(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], *, key: str
) -> list[Any]:
    """Insert the rows whose keys are not there yet (in one statement); returns the keys this call inserted."""
    result = await conn.execute(
        _insert(conn, table).values(list(rows)).on_conflict_do_nothing().returning(table.c[key])
    )
    return list(result.scalars())


def _earliest(column: ColumnElement[Any], candidate: ColumnElement[Any]) -> ColumnElement[Any]:
    """The earlier date; a NULL candidate keeps the column."""
    return case((or_(column.is_(None), candidate < column), candidate), else_=column)


def _latest(column: ColumnElement[Any], candidate: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((or_(column.is_(None), candidate > column), candidate), else_=column)


def _earlier(a: date | None, b: date | None) -> date | None:
    return b if a is None else a if b is None else min(a, b)


def _later(a: date | None, b: date | None) -> date | None:
    return b if a is None else a if b is None else max(a, b)


_MEMBER_SUMS = ("orders", "gmv_fen", "refunds_fen", "net_sales_fen")


@dataclass
class _Pending:
    """Counter additions held back until the end of a batch, summed per row."""

    counters: dict[Table, dict[tuple[tuple[str, Any], ...], dict[str, int]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    members: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    def add(self, table: Table, keys: Mapping[str, Any], amounts: Mapping[str, int]) -> None:
        row = self.counters[table].setdefault(tuple(keys.items()), {})
        for name, value in amounts.items():
            row[name] = row.get(name, 0) + value

    def add_member(self, leader_id: str, customer_id: str, sums: Mapping[str, int], day: date | None) -> None:
        row = self.members.setdefault(
            (leader_id, customer_id), {**dict.fromkeys(_MEMBER_SUMS, 0), "first": None, "last": None}
        )
        for name in _MEMBER_SUMS:
            row[name] += sums[name]
        row["first"], row["last"] = _earlier(row["first"], day), _later(row["last"], day)


_pending: ContextVar[_Pending | None] = ContextVar("analytics_pending_counters", default=None)
_BATCH = 1000


@asynccontextmanager
async def counters_written_together(conn: AsyncConnection) -> AsyncIterator[None]:
    """Hold counter additions back during the block and write them, one statement per table, when it ends."""
    pending = _Pending()
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
    for table in sorted(pending.counters, key=lambda t: t.name):
        rows = [dict(keys) | amounts for keys, amounts in sorted(pending.counters[table].items())]
        names = sorted({name for row in rows for name in row} - {k for k, _ in next(iter(pending.counters[table]))})
        for row in rows:
            for name in names:
                row.setdefault(name, 0)
        await _add_rows(conn, table, [k for k, _ in next(iter(pending.counters[table]))], names, rows)
    member_rows = [
        {"leader_id": leader_id, "customer_id": customer_id, **{n: row[n] for n in _MEMBER_SUMS},
         "first_order_on": row["first"], "last_order_on": row["last"]}
        for (leader_id, customer_id), row in sorted(pending.members.items())
    ]  # fmt: skip
    for start in range(0, len(member_rows), _BATCH):
        await conn.execute(_member_sales_upsert(conn), member_rows[start : start + _BATCH])
    if pending.names:
        await _write_names(conn, pending.names)


async def _add_rows(
    conn: AsyncConnection, table: Table, keys: list[str], amounts: list[str], rows: list[dict[str, Any]]
) -> None:
    statement = _insert(conn, table)
    upsert = statement.on_conflict_do_update(
        index_elements=keys, set_={name: table.c[name] + statement.excluded[name] for name in amounts}
    )
    for start in range(0, len(rows), _BATCH):
        await conn.execute(upsert, rows[start : start + _BATCH])


async def add_to(conn: AsyncConnection, table: Table, keys: Mapping[str, Any], amounts: Mapping[str, int]) -> None:
    """Add `amounts` to the counters of the row at `keys`, creating it at zero first."""
    pending = _pending.get()
    if pending is not None:
        pending.add(table, keys, amounts)
        return
    await _add_rows(conn, table, list(keys), list(amounts), [{**keys, **amounts}])


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


def _member_sales_upsert(conn: AsyncConnection) -> Any:
    cm = community_members
    statement = _insert(conn, cm)
    changes: dict[str, Any] = {name: cm.c[name] + statement.excluded[name] for name in _MEMBER_SUMS}
    changes["first_order_on"] = _earliest(cm.c.first_order_on, statement.excluded.first_order_on)
    changes["last_order_on"] = _latest(cm.c.last_order_on, statement.excluded.last_order_on)
    return statement.on_conflict_do_update(index_elements=["leader_id", "customer_id"], set_=changes)


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
    sums = {
        "orders": orders_added,
        "gmv_fen": gmv_fen,
        "refunds_fen": refunds_fen,
        "net_sales_fen": gmv_fen - refunds_fen,
    }
    pending = _pending.get()
    if pending is not None:
        pending.add_member(leader_id, customer_id, sums, order_day)
        return
    row = {"leader_id": leader_id, "customer_id": customer_id, **sums, "first_order_on": order_day,
           "last_order_on": order_day}  # fmt: skip
    await conn.execute(_member_sales_upsert(conn), [row])


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
    pending = _pending.get()
    if pending is not None:
        pending.names.update(names)
        return
    await _write_names(conn, names)


async def _write_names(conn: AsyncConnection, names: Mapping[int, str]) -> None:
    if not names:
        return
    statement = _insert(conn, products)
    upsert = statement.on_conflict_do_update(
        index_elements=["product_id"],
        set_={"name": statement.excluded.name},
        where=products.c.name != statement.excluded.name,
    )
    await conn.execute(upsert, [{"product_id": p, "name": n} for p, n in sorted(names.items())])


# -- flash sales, sign-ins, referrals ------------------------------------------------------------------------------


async def record_flash_sale(conn: AsyncConnection, values: Mapping[str, Any]) -> bool:
    return await insert_once(conn, flash_sales, values)


async def record_sign_in(conn: AsyncConnection, *, user_id: str, day: date, hour: int) -> bool:
    return await insert_once(conn, sign_ins, {"user_id": user_id, "day": day, "hour": hour})


async def record_referral(conn: AsyncConnection, *, invitee_id: str, inviter_id: str, day: date) -> bool:
    return await insert_once(conn, referrals, {"invitee_id": invitee_id, "inviter_id": inviter_id, "bound_on": day})
