"""Identity through the gateway, as a new user meets it: WeChat sign-in, roles that follow the data, sessions,
tokens nobody but accounts can mint, staff duties and the one-to-one manager.

The services are wired to each other in-process (`Wiring`): events travel through the real relays and HTTP bus,
each sent with its service's own identity from accounts.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import asgi_client, bad_authorizations, bearer
from services.orders.clients import HttpLeaderDirectory
from tests.e2e.conftest import URLS, Wiring, ok, pay

APPLICATION: dict[str, Any] = {
    "name": "Zhao Lei",
    "phone": "13912345678",
    "pickup_point": {"name": "Lotus Gate kiosk", "address": "8 Lotus Road", "community": "Lotus Garden"},
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wechat(e2e: httpx.AsyncClient, code: str) -> dict[str, Any]:
    pair: dict[str, Any] = ok(await e2e.post("/api/v1/auth/wechat", json={"code": code}))
    return pair


async def refreshed(e2e: httpx.AsyncClient, pair: dict[str, Any]) -> dict[str, Any]:
    renewed: dict[str, Any] = ok(await e2e.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}))
    return renewed


async def apply_and_approve(e2e: httpx.AsyncClient, pair: dict[str, Any], **approve: Any) -> str:
    applied = ok(
        await e2e.post("/api/v1/leader-applications", json=APPLICATION, headers=auth(pair["access_token"])), 201
    )
    admin = bearer("s_leader_admin", ["leader_admin"])
    ok(await e2e.post(f"/api/v1/leader-applications/{applied['id']}/approve", json=approve, headers=admin))
    return str(pair["user"]["id"])


async def paid_order(e2e: httpx.AsyncClient, wiring: Wiring, leader_id: str, tx: str) -> dict[str, Any]:
    product = ok(
        await e2e.post(
            "/api/v1/products",
            json={"name": f"Eggs {tx}", "price_fen": 1500, "stock": 20},
            headers=bearer("s_cat", ["catalogue"]),
        ),
        201,
    )
    order: dict[str, Any] = ok(
        await e2e.post(
            "/api/v1/orders",
            json={"leader_id": leader_id, "lines": [{"product_id": product["id"], "quantity": 1}]},
            headers=bearer(f"buyer-{tx}", ["customer"]) | {"Idempotency-Key": tx},
        ),
        201,
    )
    await pay(e2e, wiring.apps["orders"], order, tx)
    await wiring.deliver()
    return order


async def test_a_real_leader_signs_in_with_wechat_gets_the_role_on_refresh_and_loses_it_on_suspension(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    pair = await wechat(e2e, "new-user-code")
    assert pair["user"]["roles"] == ["customer"]
    user_id = await apply_and_approve(e2e, pair)
    await wiring.deliver()  # leader.status_changed reaches accounts

    # No new sign-in: the next refresh carries the role the data gives now.
    pair = await refreshed(e2e, pair)
    assert pair["user"]["roles"] == ["customer", "leader"]
    leader = auth(pair["access_token"])
    me = ok(await e2e.get("/api/v1/leaders/me", headers=leader))
    assert me["leader_id"] == user_id and me["status"] == "active"

    # Orders remembers leader lookups; a leader's own action asks again, so the cache cannot outlive a suspension.
    orders: FastAPI = wiring.apps["orders"]
    orders.state.leaders = HttpLeaderDirectory(wiring.upstream, URLS["leaders"], cache_seconds=3600)
    order = await paid_order(e2e, wiring, user_id, "tx-suspend")
    arrived = ok(await e2e.post(f"/api/v1/orders/{order['id']}/arrive", headers=leader))
    assert arrived["status"] == "ready_for_pickup"

    suspended = await e2e.patch(
        f"/api/v1/leaders/{user_id}",
        json={"status": "suspended", "reason": "complaints"},
        headers=bearer("s_leader_admin", ["leader_admin"]),
    )
    assert ok(suspended)["status"] == "suspended"
    # From the moment of suspension, before any event moved and with the access token still saying `leader`:
    refusals = [
        await e2e.post(f"/api/v1/orders/{order['id']}/pickup", json={"pickup_code": "000000"}, headers=leader),
        await e2e.post(f"/api/v1/orders/{order['id']}/arrive", headers=leader),
        await e2e.post(
            f"/api/v1/leaders/{user_id}/withdrawals",
            json={"amount_fen": 100},
            headers=leader | {"Idempotency-Key": "w-1"},
        ),
        await e2e.put(f"/api/v1/leaders/{user_id}/pickup-point", json=APPLICATION["pickup_point"], headers=leader),
    ]
    assert [(r.status_code, r.json()["code"]) for r in refusals] == [(403, "LEADER_ACCOUNT_SUSPENDED")] * 4

    await wiring.deliver()
    pair = await refreshed(e2e, pair)
    assert pair["user"]["roles"] == ["customer"]
    gone = await e2e.get("/api/v1/leaders/me", headers=auth(pair["access_token"]))
    assert gone.status_code == 403 and gone.json()["code"] == "MISSING_ROLE"


async def test_a_refresh_token_used_twice_ends_the_session_and_logout_ends_it_too(e2e: httpx.AsyncClient) -> None:
    pair = await wechat(e2e, "twice-code")
    renewed = await refreshed(e2e, pair)
    reused = await e2e.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["code"] == "REFRESH_TOKEN_REUSED"
    # The whole family is revoked: the token issued by the legitimate refresh no longer works either.
    after = await e2e.post("/api/v1/auth/refresh", json={"refresh_token": renewed["refresh_token"]})
    assert after.status_code == 401

    other = await wechat(e2e, "logout-code")
    assert (await e2e.post("/api/v1/auth/logout", headers=auth(other["access_token"]))).status_code == 204
    ended = await e2e.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert ended.status_code == 401


PROTECTED = {
    "accounts": "/api/v1/me",
    "leaders": "/api/v1/leader-applications",
    "orders": "/api/v1/orders",
    "points": "/api/v1/points/me",
    "analytics": "/api/v1/customer-tags",
}


@pytest.mark.parametrize(("case", "authorization"), sorted(bad_authorizations().items()))
async def test_bad_tokens_are_refused_at_the_gateway_and_at_each_service(
    e2e: httpx.AsyncClient, service_apps: dict[str, FastAPI], case: str, authorization: str
) -> None:
    for service, path in PROTECTED.items():
        through_gateway = await e2e.get(path, headers={"Authorization": authorization})
        async with asgi_client(service_apps[service]) as direct:
            at_service = await direct.get(path, headers={"Authorization": authorization})
        for where, response in (("gateway", through_gateway), (service, at_service)):
            assert response.status_code == 401, (case, where, path, response.text)
            assert response.json()["code"] == "INVALID_TOKEN", (case, where)


async def test_tokens_accounts_issues_are_accepted_everywhere(e2e: httpx.AsyncClient) -> None:
    pair = await wechat(e2e, "everywhere-code")
    for path in PROTECTED.values():
        assert (await e2e.get(path, headers=auth(pair["access_token"]))).status_code == 200, path


async def test_the_development_login_never_mints_a_service_identity(e2e: httpx.AsyncClient) -> None:
    for body in ({"sub": "svc:orders", "roles": ["customer"]}, {"sub": "x", "roles": ["service"]}):
        refused = await e2e.post("/api/v1/auth/dev-token", json=body)
        assert refused.status_code == 422, body


async def test_a_manager_sees_and_reads_only_the_leaders_assigned_to_them(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    ops = bearer("s_ops", ["ops"])
    managers = {}
    for username, phone in (("mgr.liu", "13700000001"), ("mgr.chen", "13700000002")):
        created = ok(
            await e2e.post(
                "/api/v1/staff",
                json={
                    "username": username,
                    "display_name": username.replace("mgr.", "Manager ").title(),
                    "contact_phone": phone,
                    "roles": ["manager"],
                    "password": "a long enough password",
                },
                headers=ops,
            ),
            201,
        )
        managers[username] = created["id"]
    await wiring.deliver()  # staff.updated reaches leaders
    mine = await apply_and_approve(e2e, await wechat(e2e, "leader-of-liu"), manager_id=managers["mgr.liu"])
    theirs = await apply_and_approve(e2e, await wechat(e2e, "leader-of-chen"), manager_id=managers["mgr.chen"])

    signed_in = ok(
        await e2e.post("/api/v1/auth/staff", json={"username": "mgr.liu", "password": "a long enough password"})
    )
    liu = auth(signed_in["access_token"])
    listed = ok(await e2e.get("/api/v1/leaders", params={"manager_id": "me"}, headers=liu))
    assert [leader["leader_id"] for leader in listed["items"]] == [mine]
    assert [item["leader_id"] for item in ok(await e2e.get("/api/v1/leaders", headers=liu))["items"]] == [mine]
    other = await e2e.get("/api/v1/leaders", params={"manager_id": managers["mgr.chen"]}, headers=liu)
    assert other.status_code == 403 and other.json()["code"] == "NOT_YOUR_LEADERS"

    assert ok(await e2e.get(f"/api/v1/leaders/{mine}", headers=liu))["phone"] == APPLICATION["phone"]
    assert "phone" not in ok(await e2e.get(f"/api/v1/leaders/{theirs}", headers=liu))
    assert (await e2e.get(f"/api/v1/leaders/{mine}/commission/balance", headers=liu)).status_code == 200
    refused = await e2e.get(f"/api/v1/leaders/{theirs}/commission/balance", headers=liu)
    assert refused.status_code == 403 and refused.json()["code"] == "NOT_YOUR_LEADER_ACCOUNT"
    acted = await e2e.patch(f"/api/v1/leaders/{mine}", json={"level": None}, headers=liu)
    assert acted.status_code == 403 and acted.json()["code"] == "MISSING_PERMISSION"

    # A leader admin lists any manager's leaders.
    admin = bearer("s_la", ["leader_admin"])
    by_chen = ok(await e2e.get("/api/v1/leaders", params={"manager_id": managers["mgr.chen"]}, headers=admin))
    assert [leader["leader_id"] for leader in by_chen["items"]] == [theirs]

    # The leader sees whom to call.
    await wiring.deliver()
    leader_pair = await wechat(e2e, "leader-of-liu")
    assert leader_pair["user"]["roles"] == ["customer", "leader"]
    me = ok(await e2e.get("/api/v1/leaders/me", headers=auth(leader_pair["access_token"])))
    assert me["manager"] == {"id": managers["mgr.liu"], "display_name": "Manager Liu", "contact_phone": "13700000001"}
