"""Every points and referrals path of CONTRACT.md, called through the real gateway with tokens signed as accounts
signs them; the internal paths stay unreachable from outside."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import bearer, jwks_url_for_tests, service_bearer
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from tests.points.conftest import Clock


@pytest.fixture
async def gateway(points_app: FastAPI, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(auth_jwks_url=jwks_url_for_tests(), log_json=False, openapi_cache_seconds=0)
    transports: dict[str, httpx.AsyncBaseTransport] = {
        "points": httpx.ASGITransport(app=points_app, raise_app_exceptions=False)
    }
    app = create_app(settings, upstream_transports=transports)
    async with app.running():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


async def test_contract_paths_work_through_the_gateway(gateway: httpx.AsyncClient) -> None:
    ops, alice, bob = bearer("ops1", ["ops"]), bearer("alice", ["customer"]), bearer("bob", ["customer"])

    rules = await gateway.get("/api/v1/points/rules", headers=ops)
    assert rules.status_code == 200
    body: dict[str, Any] = {k: v for k, v in rules.json().items() if k not in {"version", "created_by", "created_at"}}
    assert (
        await gateway.put("/api/v1/points/rules", json=body | {"newcomer_points": 50}, headers=ops)
    ).status_code == 200

    me = await gateway.get("/api/v1/points/me", headers=alice)
    assert me.status_code == 200 and me.json()["balance"] == 50
    sign_in = await gateway.post("/api/v1/points/sign-ins", headers=alice)
    assert sign_in.status_code == 201 and sign_in.json()["awarded"] == 5
    assert (await gateway.post("/api/v1/points/sign-ins", headers=alice)).json()["code"] == "ALREADY_SIGNED_IN"
    entries = await gateway.get("/api/v1/points/me/entries", headers=alice)
    assert [e["kind"] for e in entries.json()["items"]] == ["signin", "newcomer"]
    tasks = await gateway.get("/api/v1/points/tasks", headers=alice)
    assert tasks.status_code == 200 and tasks.json()["tasks"][0]["progress"] == 0

    adjustment = {"user_id": "alice", "points": 10, "reason": "welcome gift"}
    assert (await gateway.post("/api/v1/points/adjustments", json=adjustment, headers=ops)).status_code == 201
    account = await gateway.get("/api/v1/points/users/alice", headers=ops)
    assert account.json()["balance"] == 65
    assert (await gateway.get("/api/v1/points/users/alice", headers=bob)).status_code == 403

    code = (await gateway.get("/api/v1/referrals/me", headers=alice)).json()["code"]
    bound = await gateway.post("/api/v1/referrals/bind", json={"code": code}, headers=bob)
    assert bound.status_code == 200 and bound.json()["inviter_id"] == "alice"
    invitees = (await gateway.get("/api/v1/referrals/me", headers=alice)).json()["invitees"]
    assert [i["invitee_id"] for i in invitees] == ["bob"]


@pytest.mark.parametrize(
    "path",
    [
        "/internal/points/holds",
        "/internal/points/holds/1/release",
        "/internal/reconciliation/points",
        "/internal/reconciliation/points/orders",
        "/internal/reconciliation/commission/orders",
    ],
)
async def test_internal_paths_are_not_routed_by_the_gateway(gateway: httpx.AsyncClient, path: str) -> None:
    response = await gateway.post(path, json={}, headers=service_bearer("orders"))
    assert response.status_code == 404
