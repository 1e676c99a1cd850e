"""The gateway's own endpoints: login, docs pages and their assets, health and readiness."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
from services.gateway.identity import Identity

from services.common.auth import decode_token
from services.gateway.app import create_app
from tests.common.test_metrics import samples, value
from tests.gateway.gateway_standins import GatewayFactory, RefusingTransport, gateway_settings

SECRET = gateway_settings().jwt_secret


async def test_dev_token_is_404_when_dev_auth_is_off(make_gateway: GatewayFactory) -> None:
    async with make_gateway(dev_auth=False) as gateway:
        response = await gateway.post("/api/v1/auth/dev-token", json={"sub": "u1", "roles": ["ops"]})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "NOT_FOUND"


async def test_dev_token_issues_a_token_the_services_accept(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/api/v1/auth/dev-token", json={"sub": "u1", "roles": ["customer", "leader"]})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    principal = decode_token(body["access_token"], secret=SECRET, algorithm="HS256")
    assert principal.sub == "u1"
    assert principal.roles == frozenset({"customer", "leader"})


@pytest.mark.parametrize(
    "payload",
    [
        {"sub": "u1", "roles": ["admin"]},
        {"sub": "u1", "roles": []},
        {"sub": "u1", "roles": "ops"},
        {"sub": "", "roles": ["customer"]},
        {"sub": "u" * 65, "roles": ["customer"]},
        {"sub": "user one", "roles": ["customer"]},
        {"sub": 1, "roles": ["customer"]},
        {"roles": ["customer"]},
        {"sub": "u1", "roles": ["customer"], "exp": 99999999999},
    ],
)
async def test_dev_token_rejects_bad_subjects_and_unknown_roles(
    gateway: httpx.AsyncClient, payload: dict[str, object]
) -> None:
    response = await gateway.post("/api/v1/auth/dev-token", json=payload)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_wechat_login_with_the_fake_provider_is_deterministic(gateway: httpx.AsyncClient) -> None:
    first = await gateway.post("/api/v1/auth/wechat", json={"code": "081aBc000wx"})
    again = await gateway.post("/api/v1/auth/wechat", json={"code": "081aBc000wx"})
    other = await gateway.post("/api/v1/auth/wechat", json={"code": "another-code"})
    assert first.status_code == 200
    user = decode_token(first.json()["access_token"], secret=SECRET, algorithm="HS256")
    assert user.sub == "wx_" + hashlib.sha256(b"081aBc000wx").hexdigest()[:16]
    assert user.roles == frozenset({"customer"})
    assert decode_token(again.json()["access_token"], secret=SECRET, algorithm="HS256").sub == user.sub
    assert decode_token(other.json()["access_token"], secret=SECRET, algorithm="HS256").sub != user.sub


@pytest.mark.parametrize("code", ["", "c" * 129])
async def test_wechat_login_rejects_empty_or_oversized_codes(gateway: httpx.AsyncClient, code: str) -> None:
    response = await gateway.post("/api/v1/auth/wechat", json={"code": code})
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_wechat_login_without_a_provider_is_503(make_gateway: GatewayFactory) -> None:
    async with make_gateway(dev_auth=False) as gateway:
        response = await gateway.post("/api/v1/auth/wechat", json={"code": "081aBc000wx"})
    assert response.status_code == 503
    assert response.json()["code"] == "IDENTITY_PROVIDER_UNAVAILABLE"


async def test_wechat_fake_can_be_enabled_without_dev_tokens(make_gateway: GatewayFactory) -> None:
    async with make_gateway(dev_auth=False, wechat_fake_identity=True) as gateway:
        assert (await gateway.post("/api/v1/auth/wechat", json={"code": "abc"})).status_code == 200
        assert (await gateway.post("/api/v1/auth/dev-token", json={"sub": "u", "roles": ["ops"]})).status_code == 404


async def test_a_plugged_identity_provider_decides_who_logs_in() -> None:
    class StaffDirectory:
        async def identify(self, code: str) -> Identity:
            return Identity(sub=f"staff-{code}", roles=("ops",))

    gateway = create_app(gateway_settings(dev_auth=False), identity_provider=StaffDirectory(), upstream_transports={})
    async with (
        gateway.running(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.test") as client,
    ):
        response = await client.post("/api/v1/auth/wechat", json={"code": "42"})
    principal = decode_token(response.json()["access_token"], secret=SECRET, algorithm="HS256")
    assert (principal.sub, principal.roles) == ("staff-42", frozenset({"ops"}))


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
    down = {name: RefusingTransport() for name in ("leaders", "orders", "points")}
    async with make_gateway(transports=down) as gateway:
        response = await gateway.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "gateway"}


async def test_readyz_reports_each_upstream(make_gateway: GatewayFactory, gateway: httpx.AsyncClient) -> None:
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "services": {"leaders": "ready", "orders": "ready", "points": "ready"},
    }
    async with make_gateway(transports={"points": RefusingTransport()}) as degraded:
        response = await degraded.get("/readyz")
    assert response.status_code == 503
    assert response.json()["services"] == {"leaders": "ready", "orders": "ready", "points": "unreachable"}


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
