"""Statement page speed with a million ledger entries (PostgreSQL).

Creates its own throwaway database next to the one in the URL, applies the leaders migrations, fills
`commission_entries` with ~1,000,000 rows over a year (one heavy leader holds a tenth of them, the rest spread over
99 leaders), then times the statement endpoint's own service call for the heavy leader's busiest month: page 1, a
deep page reached through the cursor, and the CSV's chunk query. Prints the medians and writes
`bench/results/statements.json`; the query plan is included so the index use can be checked.

    python -m bench.statements.bench_statements [postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.common import migrate
from services.common.auth import Principal
from services.common.db import Database
from services.common.pagination import PageParams, decode_cursor
from services.leaders.commission import statements
from services.leaders.models import metadata

ENTRIES = 1_000_000
HEAVY_SHARE = 10  # every 10th entry belongs to the heavy leader "l0"
ROUNDS = 15
RESULTS = Path(__file__).resolve().parents[1] / "results" / "statements.json"
OPS = Principal(sub="bench-ops", roles=frozenset({"ops"}))
TZ = ZoneInfo("Asia/Shanghai")
PERIOD = "2025-06"

FILL_ACCOUNTS = """
INSERT INTO commission_accounts (leader_id, pending_fen, available_fen, in_withdrawal_fen, withdrawn_fen, accrued_fen,
    reversed_fen, updated_at)
SELECT 'l' || i, 0, 0, 0, 0, 0, 0, now() FROM generate_series(0, 99) AS i
"""
FILL_ACCRUALS = """
INSERT INTO commission_accruals (id, leader_id, order_id, line_id, product_id, customer_id, quantity, base_fen,
    rule_id, rule_scope, mode, rate_bp, commission_fen, reversed_quantity, reversed_fen, state, paid_at, created_at)
SELECT g, 'l0', g, g, g % 500, 'c' || (g % 5000), 1 + g % 5, 1000 + g % 9000, 1, 'default', 'percentage', 1000,
    (1000 + g % 9000) / 10, 0, 0, 'available', ts, ts
FROM generate_series(CAST(:share AS integer), CAST(:entries AS integer), CAST(:share AS integer)) AS g,
     LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + g * interval '31 seconds' AS ts) AS t
"""
#: The sales the statement shows (net sales: paid by payment date minus refunded by refund date) come from the
#: order and refund facts: one paid order per accrual of the heavy leader, every 20th refunded in part a day later.
FILL_SALES = """
INSERT INTO leader_orders (order_id, leader_id, customer_id, paid_fen, refunded_fen, paid_at, picked_up_at)
SELECT g, 'l0', 'c' || (g % 5000), 1000 + g % 9000, 0, ts, NULL
FROM generate_series(CAST(:share AS integer), CAST(:entries AS integer), CAST(:share AS integer)) AS g,
     LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + g * interval '31 seconds' AS ts) AS t;
INSERT INTO leader_refunds (refund_id, order_id, leader_id, refund_fen, refunded_at)
SELECT order_id, order_id, leader_id, paid_fen / 2, paid_at + interval '1 day' FROM leader_orders
WHERE order_id % (20 * CAST(:share AS integer)) = 0
"""

FILL_ENTRIES = """
INSERT INTO commission_entries (id, leader_id, kind, amount_fen, pending_delta_fen, available_delta_fen,
    in_withdrawal_delta_fen, withdrawn_delta_fen, pending_after_fen, available_after_fen, in_withdrawal_after_fen,
    withdrawn_after_fen, ref, accrual_id, order_id, line_id, created_at)
SELECT g,
    CASE WHEN g % CAST(:share AS integer) = 0 THEN 'l0' ELSE 'l' || (1 + g % 99) END,
    'accrual', 100, 100, 0, 0, 0, g, 0, 0, 0, 'bench:' || g,
    CASE WHEN g % CAST(:share AS integer) = 0 THEN g END, g, g,
    timestamptz '2025-01-01 00:00:00+00' + g * interval '31 seconds'
FROM generate_series(1, CAST(:entries AS integer)) AS g
"""


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


async def fill(db: Database) -> float:
    started = time.perf_counter()
    async with db.engine.begin() as conn:
        await conn.execute(text(FILL_ACCOUNTS))
        await conn.execute(text(FILL_ACCRUALS), {"share": HEAVY_SHARE, "entries": ENTRIES})
        await conn.execute(text(FILL_ENTRIES), {"share": HEAVY_SHARE, "entries": ENTRIES})
        for statement in FILL_SALES.split(";"):
            await conn.execute(text(statement), {"share": HEAVY_SHARE, "entries": ENTRIES})
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE commission_entries"))
        await conn.execute(text("VACUUM ANALYZE commission_accruals"))
        await conn.execute(text("VACUUM ANALYZE leader_orders"))
        await conn.execute(text("VACUUM ANALYZE leader_refunds"))
    return time.perf_counter() - started


async def timed(work: Any) -> float:
    started = time.perf_counter()
    await work()
    return (time.perf_counter() - started) * 1000


async def measure(db: Database) -> dict[str, Any]:
    async def page(after: list[Any] | None) -> Any:
        async with db.reading() as session:
            return await statements.get_statement(
                session, user=OPS, leader_id="l0", period=PERIOD, tz=TZ, page=PageParams(limit=50, after=after)
            )

    first = await page(None)
    # A deep page: follow the cursor 40 pages in (2,000 lines into the month), then time that page alone.
    cursor = first.lines.next_cursor
    for _ in range(39):
        assert cursor is not None
        cursor = (await page(decode_cursor(cursor))).lines.next_cursor
    assert cursor is not None
    deep_after = decode_cursor(cursor)

    async def csv_chunk() -> None:
        month = statements.parse_period(PERIOD, TZ)
        async with db.reading() as session:
            await statements._lines(session, "l0", month, after=None, limit=1000)

    samples: dict[str, list[float]] = {"first_page_ms": [], "deep_page_ms": [], "csv_chunk_1000_ms": []}
    for _ in range(ROUNDS):  # interleaved, so drift on a shared machine hits every figure alike
        samples["first_page_ms"].append(await timed(lambda: page(None)))
        samples["deep_page_ms"].append(await timed(lambda: page(deep_after)))
        samples["csv_chunk_1000_ms"].append(await timed(csv_chunk))

    async with db.engine.connect() as conn:
        month = statements.parse_period(PERIOD, TZ)
        plan = (
            await conn.execute(
                text(
                    "EXPLAIN (ANALYZE, BUFFERS) SELECT e.*, a.* FROM commission_entries e "
                    "LEFT JOIN commission_accruals a ON a.id = e.accrual_id "
                    "WHERE e.leader_id = 'l0' AND e.created_at >= :start AND e.created_at < :end "
                    "ORDER BY e.created_at, e.id LIMIT 51"
                ),
                {"start": month.start, "end": month.end},
            )
        ).all()
        month_lines = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM commission_entries WHERE leader_id = 'l0' "
                    "AND created_at >= :start AND created_at < :end"
                ),
                {"start": month.start, "end": month.end},
            )
        ).scalar_one()
    return {
        "summary": {name: round(statistics.median(values), 2) for name, values in samples.items()},
        "p95": {name: round(sorted(values)[int(len(values) * 0.95) - 1], 2) for name, values in samples.items()},
        "heavy_leader_lines_in_month": month_lines,
        "first_page_totals": {"accrued_fen": first.accrued_fen, "net_sales_fen": first.net_sales_fen},
        "plan": [row[0] for row in plan],
    }


async def main_async(admin_url: str) -> dict[str, Any]:
    name = f"gb_bench_statements_{os.getpid()}"
    url = await recreate(admin_url, name)
    try:
        await asyncio.to_thread(migrate.upgrade, "leaders", url)
        db = Database(url, metadata)
        try:
            fill_seconds = await fill(db)
            result = await measure(db)
        finally:
            await db.dispose()
    finally:
        await drop(admin_url, name)
    return {
        "benchmark": "leaders statement page",
        "entries": ENTRIES,
        "leaders": 100,
        "heavy_leader_share": f"1/{HEAVY_SHARE}",
        "period": PERIOD,
        "page_size": 50,
        "rounds": ROUNDS,
        "fill_seconds": round(fill_seconds, 1),
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", default=os.environ.get("TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.url or not args.url.startswith("postgresql"):
        parser.error("a PostgreSQL URL is needed (argument or TEST_POSTGRES_URL)")
    result = asyncio.run(asyncio.wait_for(main_async(args.url), timeout=600))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "plan"}, indent=2))
    print("\n".join(result["plan"]))


if __name__ == "__main__":
    main()
