"""`/metrics` on every service and the gateway: request latency by route template, outbox figures, upstream
latency at the gateway, and one sum over the workers of a multi-process service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.common import migrate
from services.common.testing import asgi_client, bearer, free_port
from tests.conftest import AppFactory
from tests.gateway.test_gateway_processes import wait_until_serving

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
            httpx.get(f"{url}/healthz", timeout=2)
        found = samples(httpx.get(f"{url}/metrics", timeout=2).text)
        served = value(found, "http_request_duration_seconds_count", service="points", route="/healthz")
        assert served >= 40
        assert len({p.name for p in metrics_dir.iterdir()}) >= 2  # both workers wrote their values
    finally:
        process.terminate()
        process.wait(timeout=10)
