"""Analytics at scale on PostgreSQL: 1,000 leaders, 100,000 members, 1,000,000 orders over 2025.

    python -m bench.analytics.bench_analytics [postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

1. A throwaway database gets the analytics migrations and the read model of that year, written by SQL on the
   server (`INSERT … SELECT` from `generate_series`, roll-ups by `GROUP BY`): what applying the events would leave,
   in a minute instead of hours. A spot check compares one leader's roll-ups with its order rows.
2. Each endpoint is called in-process (httpx over ASGI: routing, auth, validation and serialisation included, no
   network) as the reader it is meant for, on random leaders, one request at a time: p50 and p99.
3. Ingest: events applied through the real inbox and handlers, one transaction each (as the HTTP push and NATS
   consumers do), on top of the full read model: events per second.
4. Rebuild: a slice of the history replayed with `services.analytics.rebuild` into an empty database (what
   `python -m services.analytics.rebuild` does after reading the producers' outboxes); the full-size rebuild time
   is estimated from its rate, because replaying ~2.6 million events here would take longer than the bench may.

Writes bench/results/analytics.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.analytics.app import create_app
from services.analytics.clients import LeaderSummary
from services.analytics.config import Settings
from services.analytics.db import inbox
from services.analytics.rebuild import OutboxPage, rebuild
from services.analytics.subscriptions import build_handlers
from services.common import migrate
from services.common.events import contract as et
from services.common.events.consumer import apply_event
from services.common.events.store import Event
from services.common.testing import bearer, jwks_url_for_tests

LEADERS, MEMBERS, ORDERS, PRODUCTS = 1_000, 100_000, 1_000_000, 500
SIGN_INS = 500_000
YEAR_START = date(2025, 1, 1)
TODAY = date(2025, 12, 31)
TZ = ZoneInfo("Asia/Shanghai")
RESULTS = Path(__file__).resolve().parents[1] / "results" / "analytics.json"
#: Requests per endpoint (the chart draws a picture per request: fewer).
SAMPLES = 300
CHART_SAMPLES = 40
INGEST_EVENTS = 5_000
REBUILD_ORDERS = 6_000

# -- the year, written as the handlers would have left it ----------------------------------------------------------
# Member m belongs to leader m % 1000 and joins on day (m * 7) % 300 of the year; every tenth leaves 30-89 days
# later. Order i is bought by member (i * 7919) % 100000 on a day between their join and the year's end; every
# twentieth order is half refunded three days later; nine in ten are picked up the next day.
FILL = [
    """
    CREATE TEMP TABLE bench_members AS
    SELECT m, 'c' || m AS customer_id, 'l' || (m % 1000) AS leader_id,
           DATE '2025-01-01' + (m * 7) % 300 AS joined_on,
           CASE WHEN m % 10 = 0 THEN DATE '2025-01-01' + (m * 7) % 300 + 30 + m % 60 END AS left_on
    FROM generate_series(0, :members - 1) AS m
    """,
    """
    CREATE TEMP TABLE bench_orders AS
    SELECT i AS order_id, mb.customer_id, mb.leader_id,
           mb.joined_on + CAST((i * 104729) % (DATE '2025-12-31' - mb.joined_on + 1) AS integer) AS paid_on,
           CAST((i * 13) % 24 AS integer) AS paid_hour, 500 + (i * 37) % 19500 AS paid_fen,
           CAST(1 + i % 3 AS integer) AS units,
           (i * 11) % :products AS product_id, CAST((i * 5) % 60 AS integer) AS points_used
    FROM generate_series(CAST(1 AS bigint), :orders) AS i JOIN bench_members mb ON mb.m = (i * 7919) % :members
    """,
    """
    INSERT INTO orders (order_id, leader_id, customer_id, units, placed_at, paid_at, paid_on, paid_hour, paid_fen,
                        refunded_fen, picked_up_at)
    SELECT order_id, leader_id, customer_id, units,
           (paid_on + make_interval(hours => paid_hour)) AT TIME ZONE 'Asia/Shanghai' - interval '2 minutes',
           (paid_on + make_interval(hours => paid_hour)) AT TIME ZONE 'Asia/Shanghai', paid_on, paid_hour, paid_fen,
           CASE WHEN order_id % 20 = 0 THEN paid_fen / 2 ELSE 0 END,
           CASE WHEN order_id % 10 <> 0 THEN (paid_on + 1 + make_interval(hours => 10)) AT TIME ZONE 'Asia/Shanghai' END
    FROM bench_orders
    """,
    """
    INSERT INTO refunds (refund_id, order_id, leader_id, customer_id, refunded_at, refunded_on, refund_fen)
    SELECT order_id, order_id, leader_id, customer_id,
           (LEAST(paid_on + 3, DATE '2025-12-31') + time '15:00') AT TIME ZONE 'Asia/Shanghai',
           LEAST(paid_on + 3, DATE '2025-12-31'), paid_fen / 2
    FROM bench_orders WHERE order_id % 20 = 0
    """,
    """
    INSERT INTO memberships (leader_id, customer_id, joined_at, joined_on, left_at, left_on)
    SELECT leader_id, customer_id, (joined_on + time '09:00') AT TIME ZONE 'Asia/Shanghai', joined_on,
           (left_on + time '18:00') AT TIME ZONE 'Asia/Shanghai', left_on
    FROM bench_members
    """,
    """
    INSERT INTO member_daily (leader_id, day, customer_id, orders, gmv_fen, refunds_fen)
    SELECT leader_id, day, customer_id, sum(n), sum(gmv), sum(refunds) FROM (
        SELECT leader_id, paid_on AS day, customer_id, 1 AS n, paid_fen AS gmv, 0 AS refunds FROM bench_orders
        UNION ALL
        SELECT leader_id, refunded_on, customer_id, 0, 0, refund_fen FROM refunds
    ) AS facts GROUP BY leader_id, day, customer_id
    """,
    """
    INSERT INTO community_members (leader_id, customer_id, is_member, first_joined_on, joined_on, left_on, orders,
                                   gmv_fen, refunds_fen, net_sales_fen, first_order_on, last_order_on)
    SELECT mb.leader_id, mb.customer_id, mb.left_on IS NULL, mb.joined_on, mb.joined_on, mb.left_on,
           coalesce(f.orders, 0), coalesce(f.gmv, 0), coalesce(f.refunds, 0), coalesce(f.gmv - f.refunds, 0),
           f.first_order_on, f.last_order_on
    FROM bench_members mb LEFT JOIN (
        SELECT leader_id, customer_id, sum(orders) AS orders, sum(gmv_fen) AS gmv, sum(refunds_fen) AS refunds,
               min(day) FILTER (WHERE orders > 0) AS first_order_on, max(day) FILTER (WHERE orders > 0) AS last_order_on
        FROM member_daily GROUP BY leader_id, customer_id
    ) AS f ON f.leader_id = mb.leader_id AND f.customer_id = mb.customer_id
    """,
    """
    INSERT INTO leader_daily (leader_id, day, joins, leaves, orders, units, points_used, picked_up, refund_count,
                              gmv_fen, refunds_fen)
    SELECT leader_id, day, sum(joins), sum(leaves), sum(orders), sum(units), sum(points), sum(picked), sum(refunds_n),
           sum(gmv), sum(refunds) FROM (
        SELECT leader_id, joined_on AS day, 1 AS joins, 0 AS leaves, 0 AS orders, 0 AS units, 0 AS points,
               0 AS picked, 0 AS refunds_n, 0 AS gmv, 0 AS refunds FROM bench_members
        UNION ALL SELECT leader_id, left_on, 0, 1, 0, 0, 0, 0, 0, 0, 0 FROM bench_members WHERE left_on IS NOT NULL
        UNION ALL SELECT leader_id, paid_on, 0, 0, 1, units, points_used, 0, 0, paid_fen, 0 FROM bench_orders
        UNION ALL SELECT leader_id, paid_on + 1, 0, 0, 0, 0, 0, 1, 0, 0, 0 FROM bench_orders WHERE order_id % 10 <> 0
        UNION ALL SELECT leader_id, refunded_on, 0, 0, 0, 0, 0, 0, 1, 0, refund_fen FROM refunds
    ) AS facts GROUP BY leader_id, day
    """,
    """
    INSERT INTO platform_daily (day, joins, leaves, orders, units, points_used, picked_up, refund_count, gmv_fen,
                                refunds_fen)
    SELECT day, sum(joins), sum(leaves), sum(orders), sum(units), sum(points_used), sum(picked_up), sum(refund_count),
           sum(gmv_fen), sum(refunds_fen)
    FROM leader_daily GROUP BY day
    """,
    """
    INSERT INTO leader_monthly (leader_id, month, joins, leaves, orders, gmv_fen, refunds_fen, net_sales_fen)
    SELECT leader_id, date_trunc('month', day)::date, sum(joins), sum(leaves), sum(orders), sum(gmv_fen),
           sum(refunds_fen), sum(gmv_fen) - sum(refunds_fen)
    FROM leader_daily GROUP BY leader_id, date_trunc('month', day)
    """,
    """
    INSERT INTO leader_product_daily (leader_id, day, product_id, lines, units, refunded_units, gmv_fen, refunds_fen)
    SELECT leader_id, day, product_id, sum(lines), sum(units), sum(refunded_units), sum(gmv), sum(refunds) FROM (
        SELECT leader_id, paid_on AS day, product_id, 1 AS lines, units, 0 AS refunded_units, paid_fen AS gmv,
               0 AS refunds FROM bench_orders
        UNION ALL
        SELECT o.leader_id, r.refunded_on, o.product_id, 0, 0, 1, 0, r.refund_fen
        FROM refunds r JOIN bench_orders o ON o.order_id = r.order_id
    ) AS facts GROUP BY leader_id, day, product_id
    """,
    """
    INSERT INTO product_daily (day, product_id, lines, units, refunded_units, gmv_fen, refunds_fen)
    SELECT day, product_id, sum(lines), sum(units), sum(refunded_units), sum(gmv_fen), sum(refunds_fen)
    FROM leader_product_daily GROUP BY day, product_id
    """,
    """
    INSERT INTO products (product_id, name) SELECT p, 'Product ' || p FROM generate_series(0, :products - 1) AS p
    """,
    """
    INSERT INTO leaders (leader_id, status, level, manager_id, members_now)
    SELECT 'l' || l, 'active', 'silver', 'm' || (l % 50),
           (SELECT count(*) FROM bench_members mb WHERE mb.leader_id = 'l' || l AND mb.left_on IS NULL)
    FROM generate_series(0, :leaders - 1) AS l
    """,
    """
    INSERT INTO sign_ins (user_id, day, hour)
    SELECT DISTINCT ON (user_id, day) user_id, day, hour FROM (
        SELECT 'c' || ((s * 48271) % :members) AS user_id, DATE '2025-01-01' + CAST(s % 365 AS integer) AS day,
               CAST((s * 7) % 24 AS integer) AS hour
        FROM generate_series(CAST(1 AS bigint), :sign_ins) AS s
    ) AS raw
    """,
]


async def recreate(admin_url: str, name: str) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", hide_parameters=True)
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", hide_parameters=True)
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def fill(url: str) -> dict[str, Any]:
    engine = create_async_engine(url, hide_parameters=True)
    params = {"members": MEMBERS, "orders": ORDERS, "products": PRODUCTS, "leaders": LEADERS, "sign_ins": SIGN_INS}
    started = time.perf_counter()
    async with engine.begin() as conn:
        for statement in FILL:
            names = [p for p in params if f":{p}" in statement]
            await conn.execute(text(statement), {p: params[p] for p in names})
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
        counts = {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608 - our names
            for table in (
                "orders",
                "refunds",
                "memberships",
                "member_daily",
                "leader_daily",
                "leader_product_daily",
                "community_members",
                "sign_ins",
            )
        }
        # Spot check: one leader's day roll-ups add up to its order rows.
        check = (
            await conn.execute(
                text(
                    "SELECT (SELECT sum(gmv_fen) FROM leader_daily WHERE leader_id = 'l7'),"
                    " (SELECT sum(paid_fen) FROM orders WHERE leader_id = 'l7'),"
                    " (SELECT sum(orders) FROM member_daily WHERE leader_id = 'l7'),"
                    " (SELECT count(*) FROM orders WHERE leader_id = 'l7')"
                )
            )
        ).one()
        assert check[0] == check[1] and check[2] == check[3], check
    await engine.dispose()
    return {"seconds": round(time.perf_counter() - started, 1), "rows": counts}


class StubLeaders:
    """The dashboard's leaders summary without the network (its call is the leaders service's cost)."""

    async def summary(self, leader_id: str) -> LeaderSummary:
        return LeaderSummary(
            leader_id=leader_id, status="active", level="silver", manager_id=None, pending_fen=0, available_fen=0,
            window_days=30, window_sales_fen=0, window_completed_orders=0, next_level=None, progress_bp=None,
        )  # fmt: skip


def headers(sub: str, roles: list[str]) -> dict[str, str]:
    return bearer(sub, roles)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure_endpoints(url: str) -> dict[str, Any]:
    settings = Settings(
        database_url=url, auth_jwks_url=jwks_url_for_tests(), log_level="WARNING", log_json=False, database_pool_size=4
    )
    app = create_app(settings)
    app.state.leaders = StubLeaders()
    app.state.clock = lambda: datetime(2025, 12, 31, 12, tzinfo=TZ).astimezone(UTC)
    rng = random.Random(7)
    ops = headers("bench-ops", ["ops"])
    last30 = {"from": "2025-12-02", "to": "2025-12-31"}
    year = {"from": "2025-01-01", "to": "2025-12-31"}

    def leader_call(path: str, params: dict[str, Any] | None = None) -> Callable[[], tuple[str, dict[str, Any], Any]]:
        def build() -> tuple[str, dict[str, Any], Any]:
            leader_id = f"l{rng.randrange(LEADERS)}"
            return path.format(leader_id), params or {}, headers(leader_id, ["leader"])

        return build

    def ops_call(path: str, params: dict[str, Any] | None = None) -> Callable[[], tuple[str, dict[str, Any], Any]]:
        return lambda: (path, params or {}, ops)

    endpoints: dict[str, tuple[Callable[[], tuple[str, dict[str, Any], Any]], int]] = {
        "stats_30_days": (leader_call("/api/v1/leaders/{}/community/stats", last30), SAMPLES),
        "stats_366_days": (leader_call("/api/v1/leaders/{}/community/stats", year), SAMPLES),
        "stats_csv_30_days": (leader_call("/api/v1/leaders/{}/community/stats.csv", last30), SAMPLES),
        "dashboard": (leader_call("/api/v1/leaders/{}/dashboard"), SAMPLES),
        "segments": (leader_call("/api/v1/leaders/{}/community/segments"), SAMPLES),
        "segment_members_dormant": (leader_call("/api/v1/leaders/{}/community/segments/dormant/members"), SAMPLES),
        "segment_members_high_value": (
            leader_call("/api/v1/leaders/{}/community/segments/high_value/members"),
            SAMPLES,
        ),
        "cohorts_12_weeks": (leader_call("/api/v1/leaders/{}/community/cohorts", {"weeks": 12}), SAMPLES),
        "activity_30_days": (leader_call("/api/v1/leaders/{}/community/activity", last30), SAMPLES),
        "chart_png_30_days": (leader_call("/api/v1/leaders/{}/community/chart.png", last30), CHART_SAMPLES),
        "ops_overview_30_days": (ops_call("/api/v1/analytics/overview", last30), 60),
        "ops_ranking_net_sales_30_days": (ops_call("/api/v1/analytics/leaders", last30), 60),
        "ops_ranking_churn_366_days": (ops_call("/api/v1/analytics/leaders", year | {"sort": "churn"}), 30),
        "ops_alerts": (ops_call("/api/v1/analytics/alerts"), 60),
        "ops_activity_30_days": (ops_call("/api/v1/analytics/activity", last30), 60),
    }
    results: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as client:
        for name, (build, samples) in endpoints.items():
            path, params, auth = build()
            for _ in range(3):  # warm-up: connections, prepared statements, matplotlib's font cache
                assert (await client.get(path, params=params, headers=auth)).status_code == 200
            times = []
            for _ in range(samples):
                path, params, auth = build()
                started = time.perf_counter()
                response = await client.get(path, params=params, headers=auth)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (name, response.status_code, response.text[:300])
            results[name] = {
                "p50_ms": round(statistics.median(times), 2),
                "p99_ms": round(percentile(times, 0.99), 2),
                "samples": samples,
            }
            print(
                f"{name:32} p50 {results[name]['p50_ms']:8.2f} ms   p99 {results[name]['p99_ms']:8.2f} ms", flush=True
            )
    await app.state.db.dispose()
    return results


def event(type_: str, source: str, aggregate: str, payload: Any) -> Event:
    return Event(
        id=str(uuid.uuid4()), type=type_, occurred_at=datetime.now(UTC), source=source, aggregate=aggregate,
        data=payload.model_dump(mode="json"),
    )  # fmt: skip


def order_events(order_id: int, leader_id: str, customer_id: str, paid_at: datetime, rng: random.Random) -> list[Event]:
    product = rng.randrange(PRODUCTS)
    fen = rng.randrange(500, 20_000)
    paid = et.OrderPaid(
        order_id=order_id, customer_id=customer_id, leader_id=leader_id, goods_fen=fen, points_used=0,
        points_discount_fen=0, paid_fen=fen, paid_at=paid_at,
        lines=[et.OrderLinePaid(line_id=order_id, product_id=product, product_name=f"Product {product}", quantity=1,
                                unit_price_fen=fen, amount_fen=fen, points_discount_fen=0, paid_fen=fen)],
    )  # fmt: skip
    events = [event(et.ORDER_PAID, "orders", f"order:{order_id}", paid)]
    picked = et.OrderPickedUp(
        order_id=order_id, customer_id=customer_id, leader_id=leader_id, picked_up_at=paid_at + timedelta(days=1),
        lines=[], paid_fen=fen, refunded_fen=0,
    )  # fmt: skip
    events.append(event(et.ORDER_PICKED_UP, "orders", f"order:{order_id}", picked))
    if order_id % 10 == 0:
        refund = et.OrderRefunded(
            order_id=order_id, refund_id=order_id, customer_id=customer_id, leader_id=leader_id, refund_fen=fen // 2,
            points_returned=0, picked_up=True, refunded_at=paid_at + timedelta(days=2),
            lines=[et.OrderLineRefund(line_id=order_id, product_id=product, quantity=1, line_quantity=1,
                                      refund_fen=fen // 2, points_returned=0)],
        )  # fmt: skip
        events.append(event(et.ORDER_REFUNDED, "orders", f"order:{order_id}", refund))
    return events


def history(*, leaders: int, members: int, orders: int, first_order_id: int, seed: int) -> list[Event]:
    """A slice of history with the full mix: leader states, joins and leaves, orders with pickups and refunds,
    sign-ins."""
    rng = random.Random(seed)
    start = datetime(2025, 6, 1, 9, tzinfo=TZ).astimezone(UTC)
    events: list[Event] = []
    for i in range(leaders):
        state = et.LeaderUpdated(leader_id=f"r{i}", status="active", manager_id=f"m{i % 10}", at=start)
        events.append(event(et.LEADER_UPDATED, "leaders", f"leader:r{i}", state))
    for m in range(members):
        change = et.MemberChanged(leader_id=f"r{m % leaders}", customer_id=f"rc{m}", at=start + timedelta(hours=m))
        events.append(event(et.LEADER_MEMBER_JOINED, "leaders", f"member:rc{m}", change))
        if m % 10 == 0:
            gone = change.model_copy(update={"at": change.at + timedelta(days=20)})
            events.append(event(et.LEADER_MEMBER_LEFT, "leaders", f"member:rc{m}", gone))
    for o in range(orders):
        m = rng.randrange(members)
        paid_at = start + timedelta(minutes=17 * o)
        events.extend(order_events(first_order_id + o, f"r{m % leaders}", f"rc{m}", paid_at, rng))
        if o % 2 == 0:
            signed = et.SignedIn(user_id=f"rc{m}", at=paid_at - timedelta(hours=1), streak=1)
            events.append(event(et.POINTS_SIGNED_IN, "points", f"user:rc{m}", signed))
    return events


async def measure_ingest(url: str) -> dict[str, Any]:
    """Events applied one transaction each on top of the full year (indexes and table sizes as in production)."""
    settings = Settings(database_url=url, auth_jwks_url=jwks_url_for_tests(), log_level="WARNING", log_json=False)
    app = create_app(settings)
    handlers = build_handlers(TZ)
    rng = random.Random(11)
    paid_at = datetime(2025, 12, 31, 10, tzinfo=TZ).astimezone(UTC)
    events: list[Event] = []
    order_id = ORDERS + 1
    while len(events) < INGEST_EVENTS:
        m = rng.randrange(MEMBERS)
        events.extend(order_events(order_id, f"l{m % LEADERS}", f"c{m}", paid_at, rng))
        order_id += 1
        if order_id % 4 == 0:
            change = et.MemberChanged(leader_id=f"l{m % LEADERS}", customer_id=f"new{order_id}", at=paid_at)
            events.append(event(et.LEADER_MEMBER_JOINED, "leaders", f"member:new{order_id}", change))
    events = events[:INGEST_EVENTS]
    started = time.perf_counter()
    for item in events:
        assert await apply_event(app.state.db, inbox, handlers, item)
    seconds = time.perf_counter() - started
    await app.state.db.dispose()
    return {
        "events": len(events),
        "seconds": round(seconds, 2),
        "events_per_second": round(len(events) / seconds),
        "mix": {t: sum(1 for e in events if e.type == t) for t in sorted({e.type for e in events})},
        "how": "one transaction per event through the inbox, sequentially (as one consumer applies them)",
    }


class MemorySource:
    def __init__(self, name: str, events: list[Event]) -> None:
        self.name = name
        self._events = events

    async def page(self, *, after_seq: int, limit: int) -> OutboxPage:
        chunk = self._events[after_seq : after_seq + limit]
        return OutboxPage(events=chunk, next_after_seq=after_seq + len(chunk) if len(chunk) == limit else None)


async def measure_rebuild(admin_url: str) -> dict[str, Any]:
    name = f"gb_bench_analytics_rebuild_{os.getpid()}"
    url = await recreate(admin_url, name)
    try:
        await asyncio.to_thread(migrate.upgrade, "analytics", url)
        events = history(leaders=100, members=2_000, orders=REBUILD_ORDERS, first_order_id=1, seed=3)
        by_source: dict[str, list[Event]] = {}
        for item in events:
            by_source.setdefault(item.source, []).append(item)
        settings = Settings(database_url=url, auth_jwks_url=jwks_url_for_tests(), log_level="WARNING", log_json=False)
        app = create_app(settings)
        sources = [MemorySource(source, found) for source, found in sorted(by_source.items())]
        stats = await rebuild(app.state.db, sources, settings=settings)
        await app.state.db.dispose()
    finally:
        await drop(admin_url, name)
    # The full year as events: leader states, joins and leaves, and per order paid + picked up (nine in ten) +
    # refunded (one in twenty), plus the sign-ins.
    full_events = LEADERS + MEMBERS + MEMBERS // 10 + ORDERS + ORDERS * 9 // 10 + ORDERS // 20 + SIGN_INS
    rate = stats.read / stats.seconds
    return {
        "slice_events": stats.read,
        "slice_seconds": round(stats.seconds, 2),
        "events_per_second": round(rate),
        "full_size_events": full_events,
        "full_size_estimated_minutes": round(full_events / rate / 60, 1),
        "how": "services.analytics.rebuild over in-memory outbox pages of 1,000 (one transaction per page, inbox "
        "rows and counter additions written per page); the full size is estimated from the slice's rate, not measured",
    }


async def main_async(admin_url: str) -> dict[str, Any]:
    name = f"gb_bench_analytics_{os.getpid()}"
    url = await recreate(admin_url, name)
    try:
        await asyncio.to_thread(migrate.upgrade, "analytics", url)
        print("filling the read model …", flush=True)
        filled = await fill(url)
        print(f"filled in {filled['seconds']} s: {filled['rows']}", flush=True)
        endpoints = await measure_endpoints(url)
        ingest = await measure_ingest(url)
        print(f"ingest: {ingest['events_per_second']} events/s", flush=True)
    finally:
        await drop(admin_url, name)
    rebuilt = await measure_rebuild(admin_url)
    print(f"rebuild: {rebuilt['events_per_second']} events/s", flush=True)
    target = {
        name: endpoints[name]["p99_ms"] <= 50.0
        for name in endpoints
        if name.startswith(("stats_30", "dashboard", "segments"))
    }
    return {
        "benchmark": "analytics read model on PostgreSQL",
        "data": {
            "leaders": LEADERS,
            "members": MEMBERS,
            "orders": ORDERS,
            "sign_ins": SIGN_INS,
            "products": PRODUCTS,
            "year": 2025,
            "today": TODAY.isoformat(),
            "fill": filled,
        },
        "endpoints": endpoints,
        "p99_target_50ms_met": target,
        "ingest": ingest,
        "rebuild": rebuilt,
        "notes": "In-process (httpx over ASGI) on the shared 2-core machine, PostgreSQL on the same cores; one "
        "request at a time; the dashboard's leaders summary is stubbed (its call is the leaders service's cost).",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", default=os.environ.get("TEST_POSTGRES_URL"))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not args.url or not args.url.startswith("postgresql"):
        parser.error("a PostgreSQL URL is needed (argument or TEST_POSTGRES_URL)")
    result = asyncio.run(asyncio.wait_for(main_async(args.url), timeout=14 * 60))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "endpoints"}, indent=2))


if __name__ == "__main__":
    main()
