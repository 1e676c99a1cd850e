"""Product search at 100,000 products on PostgreSQL, through the orders app.

Creates its own throwaway database next to the one in the URL, applies the orders migrations (pg_trgm and the
trigram index on the name, the 1–2 character index), fills 100,000 products with Chinese names built from origin,
adjective, produce and pack syllables (with their SKUs for a tenth of them), then asks `GET /api/v1/products?q=` of
the real orders app in-process (ASGI, no network) as a customer: warm-up requests, then a bounded number of timed
ones per query, one at a time, the queries interleaved round by round. Prints p50/p99 per query and writes
`bench/results/catalogue.json`, with the query plans so the index use can be checked.

    python -m bench.catalogue.bench_catalogue [--url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.common import migrate
from services.common.testing import bearer, jwks_url_for_tests
from services.orders.app import create_app
from services.orders.config import Settings

PRODUCTS = 100_000
WARMUP = 20
REQUESTS = 300
TIME_LIMIT_SECONDS = 240.0
RESULTS = Path(__file__).resolve().parents[1] / "results" / "catalogue.json"

ORIGINS = [
    "烟台",
    "赣南",
    "新疆",
    "云南",
    "山东",
    "海南",
    "东北",
    "四川",
    "福建",
    "广西",
    "宁夏",
    "陕西",
    "内蒙古",
    "湖南",
]
ADJECTIVES = [
    "新鲜",
    "有机",
    "精选",
    "特级",
    "脆甜",
    "香甜",
    "当季",
    "野生",
    "农家",
    "冰糖",
    "红心",
    "高山",
    "散养",
    "鲜嫩",
]
PRODUCE = [
    "红富士苹果", "香蕉", "脐橙", "葡萄", "草莓", "西瓜", "芒果", "猕猴桃", "土豆", "西红柿", "黄瓜", "大米",
    "鸡蛋", "牛奶", "猪肉", "牛肉", "白菜", "菠菜", "蓝莓", "樱桃", "荔枝", "龙眼", "柚子", "雪梨", "水蜜桃",
    "玉米", "小米", "核桃", "红枣", "枸杞",
]  # fmt: skip
PACKS = ["5斤装", "礼盒装", "家庭装", "一箱", "500g", "1kg", "2.5kg", "10斤装", "尝鲜装", "整箱"]

#: (label, query): 1 and 2 characters use the gram index, 3 and more the trigram index; one matches nothing.
QUERIES: list[tuple[str, str | None]] = [
    # The same page without a search: what listing and serialising 50 products costs, the floor of every query.
    ("no q (plain list)", None),
    ("1 char, common", "果"),
    ("2 chars, common", "苹果"),
    ("2 chars, rare", "枸杞"),
    ("3 chars", "猕猴桃"),
    ("4 chars", "富士苹果"),
    ("5 chars, two words", "有机红富士"),
    ("5 chars, rare", "内蒙古散养"),
    ("latin", "kg"),
    ("no match", "榴莲千层"),
]


def product_names(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(ORIGINS)}{rng.choice(ADJECTIVES)}{rng.choice(PRODUCE)} {rng.choice(PACKS)}" for _ in range(count)
    ]


FILL_GRAMS = """
INSERT INTO product_name_grams (gram, product_id)
SELECT DISTINCT lower(substr(p.name, i, n)), p.id
FROM products p, generate_series(1, 60) AS i, (VALUES (1), (2)) AS sizes(n)
WHERE i + n - 1 <= length(p.name) AND position(' ' IN substr(p.name, i, n)) = 0
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


async def fill(url: str) -> float:
    started = time.monotonic()
    names = product_names(PRODUCTS)
    rows = [
        {"name": name, "status": "on_shelf" if i % 20 else "off_shelf", "cost": 100 + i % 5000}
        for i, name in enumerate(names)
    ]
    engine = create_async_engine(url, hide_parameters=True)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO products (name, price_fen, stock, images, status, cost_fen, created_at, updated_at) "
                "VALUES (:name, 1990, 100, '[]', :status, :cost, now(), now())"
            ),
            rows,
        )
        await conn.execute(
            text(
                "INSERT INTO product_skus (product_id, name, price_fen, stock, on_sale, created_at, updated_at) "
                "SELECT id, s.name, 2990, 50, true, now(), now() FROM products, "
                "(VALUES ('小份'), ('大份')) AS s(name) WHERE id % 10 = 0"
            )
        )
        await conn.execute(text(FILL_GRAMS))
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    await engine.dispose()
    return time.monotonic() - started


async def plans(url: str) -> dict[str, str]:
    engine = create_async_engine(url, hide_parameters=True)
    found: dict[str, str] = {}
    async with engine.connect() as conn:
        for label, q in (("trigram (猕猴桃)", "%猕猴桃%"), ("grams (苹果)", None)):
            if q is not None:
                sql = (
                    "EXPLAIN SELECT id FROM products WHERE name ILIKE :q AND status = 'on_shelf' "
                    "ORDER BY id DESC LIMIT 51"
                )
                rows = (await conn.execute(text(sql), {"q": q})).all()
            else:
                sql = (
                    "EXPLAIN SELECT id FROM products WHERE id IN (SELECT product_id FROM product_name_grams "
                    "WHERE gram = '苹果') AND status = 'on_shelf' ORDER BY id DESC LIMIT 51"
                )
                rows = (await conn.execute(text(sql))).all()
            found[label] = "\n".join(r[0] for r in rows)
    await engine.dispose()
    return found


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def measure(url: str, deadline: float) -> list[dict[str, Any]]:
    """Every query once per round, round after round (interleaved), so the machine's other load falls on all of
    them alike, the plain list included."""
    app = create_app(
        Settings(database_url=url, auth_jwks_url=jwks_url_for_tests(), log_json=False, log_level="WARNING")
    )
    headers = bearer("bench-customer", ["customer"])
    params = [{} if q is None else {"q": q} for _, q in QUERIES]
    hits: list[int] = []
    samples: list[list[float]] = [[] for _ in QUERIES]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders") as client:
        for query in params:
            for _ in range(WARMUP):
                response = await client.get("/api/v1/products", params=query, headers=headers)
                assert response.status_code == 200, response.text
            hits.append(len(response.json()["items"]))
        for _ in range(REQUESTS):
            if time.monotonic() > deadline:
                break
            for index, query in enumerate(params):
                started = time.perf_counter()
                response = await client.get("/api/v1/products", params=query, headers=headers)
                samples[index].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
    await app.state.db.dispose()
    results = []
    for (label, q), found, timed in zip(QUERIES, hits, samples, strict=True):
        results.append(
            {
                "query": label,
                "q": q,
                "hits_on_first_page": found,
                "requests": len(timed),
                "p50_ms": round(statistics.median(timed), 2),
                "p99_ms": round(percentile(timed, 99), 2),
                "max_ms": round(max(timed), 2),
            }
        )
        shown = results[-1]
        print(f"{label:22} q={q or '':8} hits={found:3} p50={shown['p50_ms']:6} ms p99={shown['p99_ms']:6} ms")
    return results


async def main_async(admin_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    name = f"bench_catalogue_{os.getpid()}"
    url = await recreate(admin_url, name)
    try:
        await asyncio.to_thread(migrate.upgrade, "orders", url)
        seconds = await fill(url)
        print(f"filled {PRODUCTS} products in {seconds:.1f} s")
        measured = await measure(url, deadline)
        return {
            "products": PRODUCTS,
            "database": "postgresql",
            "path": "GET /api/v1/products?q= through the orders app in-process (ASGI), a customer's token",
            "requests_per_query": REQUESTS,
            "fill_seconds": round(seconds, 1),
            "queries": measured,
            "worst_p99_ms": max(m["p99_ms"] for m in measured if m["q"] is not None),
            "plans": await plans(url),
        }
    finally:
        await drop(admin_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--url", default=default, help="an admin URL of the PostgreSQL server")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    report = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **asyncio.run(main_async(args.url))}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"worst p99 {report['worst_p99_ms']} ms; written {args.output}")


if __name__ == "__main__":
    main()
