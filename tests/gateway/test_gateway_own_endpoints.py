"""The gateway's own endpoints: docs pages and their assets, health and readiness (sign-in is routed to accounts)."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from tests.common.test_metrics import samples, value
from tests.gateway.gateway_standins import CountingTransport, GatewayFactory, RefusingTransport


async def test_the_gateway_signs_nothing_sign_in_is_the_accounts_services(
    make_gateway: GatewayFactory, upstream_apps: dict[str, FastAPI]
) -> None:
    accounts = CountingTransport(upstream_apps["accounts"])
    paths = ["/api/v1/auth/dev-token", "/api/v1/auth/wechat", "/api/v1/auth/staff", "/api/v1/auth/refresh"]
    async with make_gateway({"accounts": accounts}) as gateway:
        for path in paths:
            response = await gateway.post(path, json={"code": "x"})
            assert response.json()["service"] == "accounts", path
        assert (await gateway.get("/.well-known/jwks.json")).json()["service"] == "accounts"
    assert accounts.paths[: len(paths)] == paths


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_local_assets(gateway: httpx.AsyncClient, page: str) -> None:
    response = await gateway.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/docs/") for a in assets)
    assert "/openapi.json" in html
    for asset in assets:
        served = await gateway.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "javascript"),
        ("favicon.png", "image/png"),
    ],
)
async def test_docs_assets_are_served_with_their_content_type(
    gateway: httpx.AsyncClient, asset: str, content_type: str
) -> None:
    response = await gateway.get(f"/static/docs/{asset}")
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]


async def test_unknown_paths_are_404_problems_with_a_request_id(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/nope", headers={"X-Request-Id": "abc-1"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "abc-1"


async def test_healthz_answers_without_upstreams(make_gateway: GatewayFactory) -> None:
    down = {name: RefusingTransport() for name in ("accounts", "leaders", "orders", "points")}
    async with make_gateway(transports=down) as gateway:
        response = await gateway.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "gateway"}


async def test_readyz_reports_each_upstream(make_gateway: GatewayFactory, gateway: httpx.AsyncClient) -> None:
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "services": {
            "accounts": "ready",
            "leaders": "ready",
            "orders": "ready",
            "points": "ready",
            "analytics": "ready",
        },
    }
    async with make_gateway(transports={"points": RefusingTransport()}) as degraded:
        response = await degraded.get("/readyz")
    assert response.status_code == 503
    assert response.json()["services"] == {
        "accounts": "ready",
        "leaders": "ready",
        "orders": "ready",
        "points": "unreachable",
        "analytics": "ready",
    }


async def test_metrics_report_upstream_latency_per_service_and_status(gateway: httpx.AsyncClient) -> None:
    before = samples((await gateway.get("/metrics")).text)
    for _ in range(3):
        assert (await gateway.get("/api/v1/orders/echo")).status_code == 200
    response = await gateway.get("/metrics")
    assert response.status_code == 200
    after = samples(response.text)
    name = "gateway_upstream_duration_seconds_count"
    assert (
        value(after, name, upstream="orders", status="200") - value(before, name, upstream="orders", status="200") == 3
    )
