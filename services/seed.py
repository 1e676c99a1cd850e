"""Load-test data, written straight into each service's database (`groupbuy seed --leaders N --members N --orders N`).

A million orders through the API would take hours; here each service's rows are built from its own models and
rules and written in batches (`services.common.bulk`: one prepared statement, many parameter sets), so the
services find what they would have written themselves had the orders gone through them:

- leaders: N active leaders with a pickup point each, the members of their communities (membership and its
  history), and per paid order line the commission accrual, its ledger entry (running balances per leader) and the
  leader's order figures; the commission rule in force is the services' own (`commission_for`), a default 10 %
  rule is added when there is none;
- orders: a few products (created as the catalogue creates them), the orders (paid, then picked up a day later,
  over the last 30 days) with one line each, and their `order.paid` / `order.picked_up` events in the outbox,
  already delivered (their effects are the rows above and below);
- points: per order the purchase award, its ledger entry and lot, under the points rules in force, and each
  member's account;
- analytics: rebuilt from the producers' outboxes with the rebuild's own function (`rebuild`), reading the outboxes
  from their databases.

It refuses to run twice (the first seeded leader exists already): seeding again on top would mix two histories.
The demo data (`groupbuy seed` without numbers) goes through the gateway instead: `services.demo`.
"""

from __future__ import annotations

import asyncio
import importlib
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, select

from services.common.bulk import Bulk, bulk_connection
from services.common.clock import local_date, utcnow
from services.common.db import Database
from services.common.events.contract import (
    LEADER_MEMBER_JOINED,
    ORDER_PAID,
    ORDER_PICKED_UP,
    MemberChanged,
    OrderLinePaid,
    OrderLineState,
    OrderPaid,
    OrderPickedUp,
)
from services.common.events.store import Event

LEADER_PREFIX = "seed-leader-"
MEMBER_PREFIX = "seed-member-"
BATCH = 5000
HISTORY_DAYS = 30
PRODUCTS = (
    ("烟台红富士苹果 5kg", 3990),
    ("东北五常大米 10kg", 6990),
    ("农家土鸡蛋 30枚", 2590),
    ("有机小白菜 500g", 590),
    ("阳光玫瑰葡萄 1kg", 4590),
    ("内蒙古牛奶 12盒", 5990),
    ("海南香蕉 3kg", 2990),
    ("赣南脐橙 5kg", 4990),
)

Progress = Callable[[int], None]


class AlreadySeeded(Exception):
    """The load-test data is there already."""


@dataclass(frozen=True)
class SeedPlan:
    leaders: int
    members: int
    orders: int
    analytics: bool = True
    seed: int = 7


@dataclass
class SeedReport:
    leaders: int = 0
    members: int = 0
    orders: int = 0
    commission_entries: int = 0
    points_entries: int = 0
    analytics_events: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def orders_per_second(self) -> float:
        spent = self.seconds.get("orders", 0.0)
        return self.orders / spent if spent > 0 else 0.0


def _database(service: str) -> Database:
    settings = importlib.import_module(f"services.{service}.config").get_settings()
    metadata = importlib.import_module(f"services.{service}.db").metadata
    return Database(settings.resolved_database_url(), metadata, pool_size=2)


def _bound(table: Any, *columns: str) -> Any:
    """An INSERT of `table` binding each column to a parameter of its name (compiled once by the bulk writer)."""
    return insert(table).values({column: bindparam(column) for column in columns})


def leader_id(n: int) -> str:
    return f"{LEADER_PREFIX}{n:06d}"


def member_id(n: int) -> str:
    return f"{MEMBER_PREFIX}{n:08d}"


@dataclass
class _Services:
    leaders: Database
    orders: Database
    points: Database
    analytics: Database

    async def dispose(self) -> None:
        for db in (self.leaders, self.orders, self.points, self.analytics):
            await db.dispose()


async def seed_load(
    plan: SeedPlan, *, progress: Progress | None = None, stage: Callable[[str], None] | None = None
) -> SeedReport:
    """Write the plan's data into every service's database (see the module's docstring)."""
    say = stage or (lambda _: None)
    dbs = _Services(_database("leaders"), _database("orders"), _database("points"), _database("analytics"))
    report = SeedReport()
    try:
        started = time.perf_counter()
        say("leaders and communities")
        await _refuse_twice(dbs.leaders)
        await _leaders_and_members(dbs.leaders, plan, report)
        report.seconds["leaders"] = time.perf_counter() - started
        started = time.perf_counter()
        say("orders, commission, points")
        await _orders(dbs, plan, report, progress or (lambda _: None))
        report.seconds["orders"] = time.perf_counter() - started
        if plan.analytics:
            started = time.perf_counter()
            say("analytics read model")
            report.analytics_events = await rebuild_analytics_from_databases(dbs.analytics)
            report.seconds["analytics"] = time.perf_counter() - started
    finally:
        await dbs.dispose()
    return report


async def _refuse_twice(db: Database) -> None:
    from services.leaders.profiles.models import Leader

    async with db.reading() as session:
        found = await session.get(Leader, leader_id(1))
    if found is not None:
        raise AlreadySeeded(
            f"load-test data is there already (leader {leader_id(1)}): seed empty databases (drop and migrate them)"
        )


async def _leaders_and_members(db: Database, plan: SeedPlan, report: SeedReport) -> None:
    from services.leaders.commission.models import CommissionAccount
    from services.leaders.communities.models import Membership, MembershipEvent
    from services.leaders.db import outbox as leaders_outbox
    from services.leaders.profiles.models import Leader

    now = utcnow()
    joined = now - timedelta(days=HISTORY_DAYS + 1)
    insert_leader = _bound(
        Leader, "leader_id", "name", "phone", "status", "pickup_name", "pickup_address", "pickup_community", "city",
        "district", "latitude", "longitude", "created_at", "updated_at",
    )  # fmt: skip
    insert_account = _bound(CommissionAccount, "leader_id", "updated_at")
    insert_member = _bound(Membership, "customer_id", "leader_id", "joined_at")
    insert_history = _bound(MembershipEvent, "customer_id", "leader_id", "action", "reason", "at")
    insert_event = _delivered_event(leaders_outbox.table)
    async with bulk_connection(db.engine) as bulk, bulk.transaction():
        leaders = [
            {
                "leader_id": leader_id(n), "name": f"团长{n}", "phone": f"139{n:08d}", "status": "active",
                "pickup_name": f"{n} 号驿站", "pickup_address": f"幸福路 {n} 号", "pickup_community": f"幸福小区 {n}",
                "city": "上海市", "district": "浦东新区", "latitude": 31.2 + (n % 100) / 1000,
                "longitude": 121.5 + (n // 100 % 100) / 1000, "created_at": joined, "updated_at": joined,
            }
            for n in range(1, plan.leaders + 1)
        ]  # fmt: skip
        for chunk in _chunks(leaders):
            await bulk.execute(insert_leader, chunk)
        for chunk in _chunks([{"leader_id": row["leader_id"], "updated_at": joined} for row in leaders]):
            await bulk.execute(insert_account, chunk)
        report.leaders = plan.leaders
    for start in range(1, plan.members + 1, BATCH):
        numbers = range(start, min(start + BATCH, plan.members + 1))
        members = [
            {"customer_id": member_id(n), "leader_id": leader_of_member(n, plan), "joined_at": joined} for n in numbers
        ]
        async with bulk_connection(db.engine) as bulk, bulk.transaction():
            await bulk.execute(insert_member, members)
            await bulk.execute(
                insert_history,
                [{**{k: m[k] for k in ("customer_id", "leader_id")}, "action": "joined", "reason": "join",
                  "at": joined} for m in members],
            )  # fmt: skip
            await bulk.execute(insert_event, [
                _delivered(LEADER_MEMBER_JOINED, f"member:{m['customer_id']}", joined,
                           MemberChanged(leader_id=m["leader_id"], customer_id=m["customer_id"], at=joined))
                for m in members
            ])  # fmt: skip
        report.members += len(members)


def leader_of_member(n: int, plan: SeedPlan) -> str:
    return leader_id((n - 1) % plan.leaders + 1)


def _delivered_event(outbox: Table) -> Any:
    return _bound(outbox, "event_id", "type", "aggregate", "occurred_at", "data", "status", "attempts", "delivered_at")


def _delivered(type_: str, aggregate: str, at: datetime, payload: Any) -> dict[str, Any]:
    """An outbox row of an event whose effects the seed wrote itself: delivered, so no relay sends it again; the
    analytics rebuild reads it like any other."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "aggregate": aggregate,
        "occurred_at": at,
        "data": payload.model_dump(mode="json"),
        "status": "delivered",
        "attempts": 1,
        "delivered_at": at,
    }


def _chunks(rows: Sequence[dict[str, Any]], size: int = BATCH) -> list[Sequence[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


async def _products(db: Database) -> list[tuple[int, str, int]]:
    """The catalogue's products, created as the catalogue creates them (names searchable, price history)."""
    from services.orders.products.schemas import ProductCreate
    from services.orders.products.service import create_product

    made: list[tuple[int, str, int]] = []
    async with db.transaction() as session:
        for name, price in PRODUCTS:
            data = ProductCreate(name=name, price_fen=price, stock=100_000)
            product = await create_product(session, data=data, by="seed", now=utcnow())
            made.append((product.id, name, price))
    return made


async def _commission_rules(db: Database, at: datetime) -> Any:
    """The rules in force for the seeded orders; a default 10 % rule first when there is none."""
    from services.leaders.commission import repository
    from services.leaders.commission.models import CommissionRule, CommissionRuleMode, CommissionRuleScope
    from services.leaders.commission.service import rules_in_effect

    async with db.transaction() as session:
        rules = await repository.candidate_rules(session, at=at, level=None, product_ids=[])
        if not rules:
            session.add(
                CommissionRule(
                    scope=CommissionRuleScope.DEFAULT, mode=CommissionRuleMode.PERCENTAGE, rate_bp=1000,
                    effective_from=at - timedelta(days=1), created_by="seed", created_at=utcnow(),
                )
            )  # fmt: skip
            await session.flush()
            rules = await repository.candidate_rules(session, at=at, level=None, product_ids=[])
    return rules_in_effect(rules, at)


async def _points_rules(db: Database) -> Any:
    from services.points.rules.service import current_rules

    async with db.reading() as session:
        return await current_rules(session)


async def _orders(dbs: _Services, plan: SeedPlan, report: SeedReport, progress: Progress) -> None:
    from services.leaders.commission.models import CommissionAccrual, CommissionEntry
    from services.leaders.commission.service import commission_for, matching_rule
    from services.leaders.sales.models import LeaderOrder
    from services.orders.db import outbox as orders_outbox
    from services.orders.orders.models import Order, OrderLine
    from services.points.ledger.models import Entry, Lot
    from services.points.purchases.models import PurchaseAward
    from services.points.rules.service import lot_expiry, purchase_points

    if plan.orders == 0:
        return
    if plan.members == 0:
        raise ValueError("orders need members to place them (--members)")
    rng = random.Random(plan.seed)
    now = utcnow()
    first = now - timedelta(days=HISTORY_DAYS)
    step = (timedelta(days=HISTORY_DAYS - 1)) / plan.orders
    products = await _products(dbs.orders)
    current = await _commission_rules(dbs.leaders, first)
    points_rules = await _points_rules(dbs.points)
    tz = importlib.import_module("services.orders.config").get_settings().tz

    insert_order = _bound(
        Order, "customer_id", "leader_id", "status", "goods_fen", "payable_fen", "pickup_code", "pickup_date",
        "expires_at", "created_at", "updated_at", "paid_at", "ready_at", "picked_up_at",
    ).returning(Order.id, sort_by_parameter_order=True)  # fmt: skip
    insert_line = _bound(
        OrderLine, "order_id", "product_id", "product_name", "quantity", "unit_price_fen", "amount_fen", "paid_fen"
    ).returning(OrderLine.id, sort_by_parameter_order=True)
    insert_event = _delivered_event(orders_outbox.table)
    insert_leader_order = _bound(LeaderOrder, "order_id", "leader_id", "customer_id", "paid_fen", "paid_at",
                                 "picked_up_at")  # fmt: skip
    insert_accrual = _bound(
        CommissionAccrual, "leader_id", "order_id", "line_id", "product_id", "customer_id", "quantity", "base_fen",
        "rule_id", "rule_scope", "mode", "rate_bp", "per_item_fen", "commission_fen", "state", "paid_at",
        "picked_up_at", "created_at",
    ).returning(CommissionAccrual.id, sort_by_parameter_order=True)  # fmt: skip
    insert_commission_entry = _bound(
        CommissionEntry, "leader_id", "kind", "amount_fen", "pending_delta_fen", "available_delta_fen",
        "in_withdrawal_delta_fen", "withdrawn_delta_fen", "pending_after_fen", "available_after_fen",
        "in_withdrawal_after_fen", "withdrawn_after_fen", "ref", "accrual_id", "order_id", "line_id", "created_at",
    )  # fmt: skip
    insert_award = _bound(
        PurchaseAward, "order_id", "user_id", "base_fen", "points", "points_per_yuan", "rules_version",
        "picked_up_at", "created_at",
    )  # fmt: skip
    insert_points_entry = _bound(
        Entry, "user_id", "kind", "points", "balance_after", "held_change", "held_after", "ref", "details",
        "created_at",
    ).returning(Entry.id, sort_by_parameter_order=True)  # fmt: skip
    insert_lot = _bound(Lot, "user_id", "entry_id", "points", "remaining", "expires_on", "created_at")

    pending: dict[str, int] = {}  # each leader's pending commission so far: the entries' running balance
    accrued: dict[str, int] = {}
    balance: dict[str, int] = {}  # each member's points so far
    async with (
        bulk_connection(dbs.orders.engine) as orders_bulk,
        bulk_connection(dbs.leaders.engine) as leaders_bulk,
        bulk_connection(dbs.points.engine) as points_bulk,
    ):

        def batch(start: int) -> list[Any]:
            placed = []
            for i in range(start, min(start + BATCH, plan.orders)):
                member = rng.randrange(1, plan.members + 1)
                product_id, name, price = products[rng.randrange(len(products))]
                quantity = rng.randint(1, 3)
                at = first + step * i
                placed.append((member_id(member), leader_of_member(member, plan), product_id, name, price, quantity,
                               at, at + timedelta(minutes=2), at + timedelta(days=1)))  # fmt: skip
            return placed

        async def write_orders(placed: list[Any]) -> tuple[list[int], list[int]]:
            async with orders_bulk.transaction():
                order_ids = await _ids(orders_bulk, insert_order, [
                    {"customer_id": c, "leader_id": lead, "status": "picked_up", "goods_fen": price * q,
                     "payable_fen": price * q, "pickup_code": f"{rng.randrange(1_000_000):06d}",
                     "pickup_date": local_date(picked, tz), "expires_at": at + timedelta(minutes=15),
                     "created_at": at, "updated_at": picked, "paid_at": paid, "ready_at": picked - timedelta(hours=2),
                     "picked_up_at": picked}
                    for c, lead, _, _, price, q, at, paid, picked in placed
                ])  # fmt: skip
                line_ids = await _ids(orders_bulk, insert_line, [
                    {"order_id": oid, "product_id": pid, "product_name": name, "quantity": q, "unit_price_fen": price,
                     "amount_fen": price * q, "paid_fen": price * q}
                    for oid, (_, _, pid, name, price, q, *_) in zip(order_ids, placed, strict=True)
                ])  # fmt: skip
                events = []
                for oid, lid, (c, lead, pid, name, price, q, _, paid, picked) in zip(
                    order_ids, line_ids, placed, strict=True
                ):
                    amount = price * q
                    paid_event = OrderPaid(
                        order_id=oid, customer_id=c, leader_id=lead, goods_fen=amount, points_used=0,
                        points_discount_fen=0, paid_fen=amount, paid_at=paid,
                        lines=[OrderLinePaid(line_id=lid, product_id=pid, quantity=q, unit_price_fen=price,
                                             amount_fen=amount, points_discount_fen=0, paid_fen=amount,
                                             product_name=name)],
                    )  # fmt: skip
                    picked_event = OrderPickedUp(
                        order_id=oid, customer_id=c, leader_id=lead, picked_up_at=picked, paid_fen=amount,
                        refunded_fen=0,
                        lines=[OrderLineState(line_id=lid, product_id=pid, quantity=q, refunded_quantity=0,
                                              paid_fen=amount, refunded_fen=0)],
                    )  # fmt: skip
                    for type_, at, payload in ((ORDER_PAID, paid, paid_event), (ORDER_PICKED_UP, picked, picked_event)):
                        events.append(_delivered(type_, f"order:{oid}", at, payload))
                await orders_bulk.execute(insert_event, events)

            return order_ids, line_ids

        async def write_leaders(placed: list[Any], order_ids: list[int], line_ids: list[int]) -> None:
            async with leaders_bulk.transaction():
                await leaders_bulk.execute(insert_leader_order, [
                    {"order_id": oid, "leader_id": lead, "customer_id": c, "paid_fen": price * q, "paid_at": paid,
                     "picked_up_at": picked}
                    for oid, (c, lead, _, _, price, q, _, paid, picked) in zip(order_ids, placed, strict=True)
                ])  # fmt: skip
                accruals: list[dict[str, Any]] = []
                for oid, lid, (c, lead, pid, _, price, q, _, paid, picked) in zip(
                    order_ids, line_ids, placed, strict=True
                ):
                    rule = matching_rule(current, product_id=pid, level=None)
                    commission = commission_for(rule, paid_fen=price * q, quantity=q)
                    accruals.append({
                        "leader_id": lead, "order_id": oid, "line_id": lid, "product_id": pid, "customer_id": c,
                        "quantity": q, "base_fen": price * q, "rule_id": rule.id if rule else None,
                        "rule_scope": rule.scope if rule else None, "mode": rule.mode if rule else None,
                        "rate_bp": rule.rate_bp if rule else None, "per_item_fen": rule.amount_fen if rule else None,
                        "commission_fen": commission, "state": "pending", "paid_at": paid, "picked_up_at": picked,
                        "created_at": paid,
                    })  # fmt: skip
                accrual_ids = await _ids(leaders_bulk, insert_accrual, accruals)
                entries = []
                for accrual_id, accrual in zip(accrual_ids, accruals, strict=True):
                    lead, amount = accrual["leader_id"], accrual["commission_fen"]
                    pending[lead] = pending.get(lead, 0) + amount
                    accrued[lead] = accrued.get(lead, 0) + amount
                    entries.append({
                        "leader_id": lead, "kind": "accrual", "amount_fen": amount, "pending_delta_fen": amount,
                        "available_delta_fen": 0, "in_withdrawal_delta_fen": 0, "withdrawn_delta_fen": 0,
                        "pending_after_fen": pending[lead], "available_after_fen": 0, "in_withdrawal_after_fen": 0,
                        "withdrawn_after_fen": 0, "ref": f"accrual:{accrual['line_id']}", "accrual_id": accrual_id,
                        "order_id": accrual["order_id"], "line_id": accrual["line_id"],
                        "created_at": accrual["paid_at"],
                    })  # fmt: skip
                await leaders_bulk.execute(insert_commission_entry, entries)
                report.commission_entries += len(entries)

        async def write_points(placed: list[Any], order_ids: list[int], line_ids: list[int]) -> None:
            async with points_bulk.transaction():
                awards: list[dict[str, Any]] = []
                credits: list[dict[str, Any]] = []
                for oid, (c, _, _, _, price, q, _, _, picked) in zip(order_ids, placed, strict=True):
                    points = purchase_points(price * q, points_rules)
                    awards.append({
                        "order_id": oid, "user_id": c, "base_fen": price * q, "points": points,
                        "points_per_yuan": points_rules.purchase_points_per_yuan,
                        "rules_version": points_rules.version, "picked_up_at": picked, "created_at": picked,
                    })  # fmt: skip
                    if points > 0:
                        balance[c] = balance.get(c, 0) + points
                        credits.append({
                            "user_id": c, "kind": "purchase", "points": points, "balance_after": balance[c],
                            "held_change": 0, "held_after": 0, "ref": f"order:{oid}",
                            "details": {"order_id": oid, "base_fen": price * q,
                                        "points_per_yuan": points_rules.purchase_points_per_yuan,
                                        "rules_version": points_rules.version},
                            "created_at": picked,
                        })  # fmt: skip
                await points_bulk.execute(insert_award, awards)
                entry_ids = await _ids(points_bulk, insert_points_entry, credits)
                await points_bulk.execute(insert_lot, [
                    {"user_id": e["user_id"], "entry_id": eid, "points": e["points"], "remaining": e["points"],
                     "expires_on": lot_expiry(local_date(e["created_at"], tz), points_rules),
                     "created_at": e["created_at"]}
                    for eid, e in zip(entry_ids, credits, strict=True)
                ])  # fmt: skip
                report.points_entries += len(credits)

        # Each service's database takes its part of a batch at the same time, and the next batch's orders are written
        # while the previous batch's commission and points are: three connections busy instead of one.
        previous: tuple[list[Any], list[int], list[int]] | None = None
        for start in range(0, plan.orders, BATCH):
            placed = batch(start)
            if previous is None:
                ids = await write_orders(placed)
            else:
                ids, _, _ = await asyncio.gather(
                    write_orders(placed), write_leaders(*previous), write_points(*previous)
                )
                report.orders += len(previous[0])
                progress(len(previous[0]))
            previous = (placed, *ids)
        if previous is not None:
            await asyncio.gather(write_leaders(*previous), write_points(*previous))
            report.orders += len(previous[0])
            progress(len(previous[0]))
    await _accounts(dbs, pending, accrued, balance)


async def _ids(bulk: Bulk, statement: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    return [int(row[0]) for row in await bulk.fetch(statement, rows)]


async def _accounts(dbs: _Services, pending: dict[str, int], accrued: dict[str, int], balance: dict[str, int]) -> None:
    """Each leader's commission account and each member's points account, as their ledgers sum up."""
    from services.leaders.commission.models import CommissionAccount
    from services.points.ledger.models import Account

    now = utcnow()
    accounts = CommissionAccount.__table__  # type: ignore[attr-defined]
    set_totals = (
        accounts.update()
        .where(accounts.c.leader_id == bindparam("b_leader_id"))
        .values(pending_fen=bindparam("b_pending"), accrued_fen=bindparam("b_accrued"), updated_at=bindparam("b_at"))
    )
    async with bulk_connection(dbs.leaders.engine) as bulk, bulk.transaction():
        await bulk.execute(
            set_totals,
            [{"b_leader_id": k, "b_pending": v, "b_accrued": accrued[k], "b_at": now} for k, v in pending.items()],
        )
    insert_account = _bound(Account, "user_id", "balance", "held", "lifetime_earned", "created_at", "updated_at")
    rows = [
        {"user_id": user, "balance": points, "held": 0, "lifetime_earned": points, "created_at": now, "updated_at": now}
        for user, points in balance.items()
    ]
    async with bulk_connection(dbs.points.engine) as bulk:
        for chunk in _chunks(rows):
            async with bulk.transaction():
                await bulk.execute(insert_account, chunk)


# -- analytics ------------------------------------------------------------------------------------------------------


@dataclass
class DatabaseOutboxSource:
    """A producer's outbox read straight from its database, in the order `GET /internal/outbox` gives (for a
    rebuild while the producers are not running, and for the seed)."""

    name: str
    db: Database
    table: Table

    async def page(self, *, after_seq: int, limit: int) -> Any:
        from services.analytics.rebuild import OutboxPage
        from services.common.clock import as_utc

        t = self.table
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(t).where(t.c.seq > after_seq).order_by(t.c.seq).limit(limit))).all()
        events = [
            Event(id=row.event_id, type=row.type, occurred_at=as_utc(row.occurred_at), source=self.name,
                  aggregate=row.aggregate, data=row.data)
            for row in rows
        ]  # fmt: skip
        return OutboxPage(events=events, next_after_seq=rows[-1].seq if len(rows) == limit else None)


async def rebuild_analytics_from_databases(analytics_db: Database | None = None) -> int:
    """analytics' own `rebuild`, over the producers' outboxes read from their databases; the events read."""
    from services.analytics.config import get_settings
    from services.analytics.rebuild import rebuild

    settings = get_settings()
    own = analytics_db is None
    db = analytics_db or _database("analytics")
    producers = {name: _database(name) for name in settings.producer_urls()}
    try:
        sources = [
            DatabaseOutboxSource(name, producer, importlib.import_module(f"services.{name}.db").outbox.table)
            for name, producer in producers.items()
        ]
        stats = await rebuild(db, sources, settings=settings)
        return stats.read
    finally:
        for producer in producers.values():
            await producer.dispose()
        if own:
            await db.dispose()
