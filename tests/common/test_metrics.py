"""`/metrics` on every service and the gateway: request latency by route template, outbox figures, upstream
latency at the gateway, and one sum over the workers of a multi-process service."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.common import migrate
from services.common.events.contract import ORDER_PAID, OrderLinePaid, OrderPaid
from services.common.events.store import Event
from services.common.testing import asgi_client, bearer, free_port, service_bearer
from tests.conftest import AppFactory
from tests.gateway.test_gateway_processes import wait_until_serving
from tests.orders.conftest import build_orders_app, create_product
from tests.orders.test_flash_sales import buy, create_sale

REPO = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls)


async def test_a_service_reports_requests_by_route_template_and_its_outbox(make_app: AppFactory) -> None:
    app = await make_app("leaders")
    count = "http_request_duration_seconds_count"
    route = "/api/v1/leaders/{leader_id}"
    async with asgi_client(app) as client:
        # The registry is the process's: earlier tests' requests are in it too, so compare before and after.
        before = samples((await client.get("/metrics")).text)
        for n in range(3):
            await client.get(f"/api/v1/leaders/nobody-{n}", headers=bearer("c1", ["customer"]))
        await client.get("/no/such/path")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    # Three raw paths, one series: the route template, not the path.
    grown = value(found, count, service="leaders", route=route, status="404")
    assert grown - value(before, count, service="leaders", route=route, status="404") == 3
    unmatched = value(found, count, service="leaders", route="unmatched")
    assert unmatched - value(before, count, service="leaders", route="unmatched") == 1
    assert ("outbox_pending_events", frozenset({("service", "leaders")})) in found
    assert ("outbox_oldest_pending_age_seconds", frozenset({("service", "leaders")})) in found


def test_workers_of_one_service_report_one_sum(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'points.db'}"
    migrate.upgrade("points", database)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "POINTS_DATABASE_URL": database,
        "POINTS_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "services.points.app:create_app"]
    command += ["--port", str(port), "--workers", "2", "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, f"{url}/healthz")
        # New connections each time, so both workers take some of them.
        for _ in range(40):
            httpx.get(f"{url}/healthz", timeout=10)
        found = samples(httpx.get(f"{url}/metrics", timeout=10).text)
        served = value(found, "http_request_duration_seconds_count", service="points", route="/healthz")
        assert served >= 40
        assert len({p.name for p in metrics_dir.iterdir()}) >= 2  # both workers wrote their values
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_after_a_flow_the_flash_sale_outbox_ledger_and_pool_series_are_there(make_app: AppFactory) -> None:
    """Orders: each flash-sale outcome and the outbox the purchases filled; leaders and points: the ledger entries
    their transactions committed; every service: its connection pool."""
    orders = await build_orders_app(make_app)
    async with asgi_client(orders) as client:
        before = samples((await client.get("/metrics")).text)
        product = await create_product(client, stock=50)
        sale = await create_sale(client, product, stock=1, limit=1)
        later = await create_sale(client, product, stock=1, starts_in=timedelta(hours=1))
        assert (await buy(client, sale["id"], who="m1")).status_code == 201
        assert (await buy(client, sale["id"], who="m1")).json()["code"] == "FLASH_SALE_LIMIT_REACHED"
        assert (await buy(client, sale["id"], who="m2")).json()["code"] == "FLASH_SALE_SOLD_OUT"
        assert (await buy(client, sale["id"], who="m3")).json()["code"] == "FLASH_SALE_SOLD_OUT"  # from memory
        assert (await buy(client, later["id"], who="m1")).json()["code"] == "FLASH_SALE_NOT_ACTIVE"
        found = samples((await client.get("/metrics")).text)
    outcomes = "flash_sale_purchases_total"
    grown = {
        outcome: value(found, outcomes, outcome=outcome) - value(before, outcomes, outcome=outcome)
        for outcome in ("sold", "limit", "sold_out", "not_active")
    }
    assert grown == {"sold": 1, "limit": 1, "sold_out": 2, "not_active": 1}
    # The purchase's events wait in the outbox (no relay runs here): the backlog and its age are reported.
    assert value(found, "outbox_pending_events", service="orders") >= 1
    assert value(found, "outbox_oldest_pending_age_seconds", service="orders") >= 0
    assert ("outbox_dead_letters", frozenset({("service", "orders")})) in found
    assert ("db_pool_connections_in_use", frozenset({("service", "orders")})) in found or orders.state.db.is_sqlite

    entries = "ledger_entries_written_total"
    points = await make_app("points")
    async with asgi_client(points) as client:
        before = samples((await client.get("/metrics")).text)
        assert (await client.post("/api/v1/points/sign-ins", headers=bearer("m1", ["customer"]))).status_code == 201
        found = samples((await client.get("/metrics")).text)
    signed = value(found, entries, ledger="points", kind="signin") - value(
        before, entries, ledger="points", kind="signin"
    )
    assert signed == 1

    leaders = await make_app("leaders")
    paid = OrderPaid(
        order_id=7, customer_id="m1", leader_id="L7", goods_fen=1000, points_used=0, points_discount_fen=0,
        paid_fen=1000, paid_at=datetime.now(UTC),
        lines=[OrderLinePaid(line_id=70, product_id=1, quantity=1, unit_price_fen=1000, amount_fen=1000,
                             points_discount_fen=0, paid_fen=1000)],
    )  # fmt: skip
    event = Event(
        id=str(uuid.uuid4()), type=ORDER_PAID, occurred_at=datetime.now(UTC), source="orders", aggregate="order:7",
        data=paid.model_dump(mode="json"),
    )  # fmt: skip
    async with asgi_client(leaders) as client:
        before = samples((await client.get("/metrics")).text)
        for _ in range(2):  # delivered twice: written (and counted) once
            pushed = await client.post(
                "/internal/events", json=event.model_dump(mode="json"), headers=service_bearer("orders")
            )
            assert pushed.status_code == 200, pushed.text
        found = samples((await client.get("/metrics")).text)
    accrued = value(found, entries, ledger="commission", kind="accrual")
    assert accrued - value(before, entries, ledger="commission", kind="accrual") == 1
