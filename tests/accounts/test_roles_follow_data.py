"""Roles follow the data: leaders reports approval, suspension and reinstatement; the next token says so, without
signing in again."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from services.accounts.subscriptions import HANDLERS
from services.common.auth import ServiceTokens
from services.common.events.bus import SUBSCRIPTIONS, HttpBus, subscribers_of
from services.common.events.contract import AUDIT_RECORDED, LEADER_STATUS_CHANGED
from services.common.events.relay import Relay
from services.common.settings import development_service_secret
from services.common.testing import asgi_client, bearer
from tests.accounts.conftest import Clock, deliver, dev_token, leader_status_event, ok, push, refresh, wechat_sign_in
from tests.conftest import AppFactory
from tests.leaders.conftest import APPLICATION, OPS


def test_accounts_subscribes_to_exactly_what_it_handles() -> None:
    assert set(HANDLERS) == set(SUBSCRIPTIONS["accounts"]) == {LEADER_STATUS_CHANGED, AUDIT_RECORDED}
    assert "accounts" in subscribers_of(LEADER_STATUS_CHANGED)


async def roles_after_refresh(client: httpx.AsyncClient, pair: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    renewed: dict[str, Any] = ok(await refresh(client, pair["refresh_token"]))
    return renewed["user"]["roles"], renewed


async def test_a_leader_status_event_changes_the_roles_of_the_next_refresh(
    accounts_client: httpx.AsyncClient, clock: Clock
) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    user_id = pair["user"]["id"]
    await deliver(accounts_client, leader_status_event(user_id, "active", clock()))
    roles, pair = await roles_after_refresh(accounts_client, pair)
    assert roles == ["customer", "leader"]

    await deliver(accounts_client, leader_status_event(user_id, "suspended", clock() + timedelta(days=1)))
    roles, pair = await roles_after_refresh(accounts_client, pair)
    assert roles == ["customer"]

    await deliver(accounts_client, leader_status_event(user_id, "active", clock() + timedelta(days=2)))
    roles, _ = await roles_after_refresh(accounts_client, pair)
    assert roles == ["customer", "leader"]
    # A new sign-in gets it too.
    assert (await wechat_sign_in(accounts_client, "code-1"))["user"]["roles"] == ["customer", "leader"]


async def test_an_older_status_arriving_late_changes_nothing(accounts_client: httpx.AsyncClient, clock: Clock) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    user_id = pair["user"]["id"]
    await deliver(accounts_client, leader_status_event(user_id, "suspended", clock() + timedelta(hours=1)))
    await deliver(accounts_client, leader_status_event(user_id, "active", clock()))  # older news
    roles, _ = await roles_after_refresh(accounts_client, pair)
    assert roles == ["customer"]


async def test_a_redelivered_event_is_applied_once(accounts_client: httpx.AsyncClient, clock: Clock) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    event = leader_status_event(pair["user"]["id"], "active", clock())
    assert (await deliver(accounts_client, event))["applied"] is True
    assert (await deliver(accounts_client, event))["applied"] is False


async def test_only_the_leaders_service_can_make_someone_a_leader(
    accounts_client: httpx.AsyncClient, clock: Clock
) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    user_id = pair["user"]["id"]
    claims_to_be_points = leader_status_event(user_id, "active", clock(), source="points")
    sent_by_points = leader_status_event(user_id, "active", clock(), source="leaders")
    for event, sender in (
        (claims_to_be_points, "leaders"),
        (claims_to_be_points, "points"),
        (sent_by_points, "points"),
    ):
        refused = await push(accounts_client, event, sender=sender)
        assert refused.status_code == 403 and refused.json()["code"] == "EVENT_NOT_OWNED"
    roles, _ = await roles_after_refresh(accounts_client, pair)
    assert roles == ["customer"]


async def test_events_need_a_service_token(accounts_client: httpx.AsyncClient, clock: Clock) -> None:
    event = leader_status_event("u_x", "active", clock())
    person = await dev_token(accounts_client, "u_x", ["customer"])
    response = await accounts_client.post("/internal/events", json=event, headers=person)
    assert response.status_code == 401 and response.json()["code"] == "INVALID_TOKEN"


async def test_approval_suspension_and_reinstatement_in_leaders_reach_the_next_token(
    make_app: AppFactory, accounts_app: FastAPI, accounts_client: httpx.AsyncClient
) -> None:
    """The real leaders service, its outbox and relay, the HTTP bus, and accounts' inbox."""
    leaders_app = await make_app("leaders")
    bus_client = httpx.AsyncClient(
        mounts={
            "http://accounts": httpx.ASGITransport(app=accounts_app, raise_app_exceptions=False),
            # The other subscriber of leader events, out of this test's scope: it takes whatever it is sent.
            "http://analytics": httpx.MockTransport(lambda request: httpx.Response(200, json={"applied": False})),
        }
    )
    # Leaders' own identity, from accounts, as its relay gets it.
    tokens = ServiceTokens(
        service="leaders",
        secret=development_service_secret("leaders"),
        accounts_url="http://accounts",
        client=bus_client,
    )
    bus = HttpBus({"accounts": "http://accounts", "analytics": "http://analytics"}, tokens, client=bus_client)
    outbox = importlib.import_module("services.leaders.db").outbox
    relay = Relay(leaders_app.state.db, outbox.table, bus, source="leaders", max_attempts=3)

    pair = await wechat_sign_in(accounts_client, "code-1")
    user_id = pair["user"]["id"]
    async with asgi_client(leaders_app) as leaders:
        customer = bearer(user_id, ["customer"])
        applied = ok(await leaders.post("/api/v1/leader-applications", json=APPLICATION, headers=customer), 201)
        ok(await leaders.post(f"/api/v1/leader-applications/{applied['id']}/approve", headers=OPS))
        assert (await relay.run_once()).delivered == 3  # leader.status_changed, leader.updated, audit.recorded
        roles, pair = await roles_after_refresh(accounts_client, pair)
        assert roles == ["customer", "leader"]  # no new sign-in needed

        ok(await leaders.patch(f"/api/v1/leaders/{user_id}", json={"status": "suspended"}, headers=OPS))
        assert (await relay.run_once()).delivered == 3  # leader.status_changed, leader.updated, audit.recorded
        roles, pair = await roles_after_refresh(accounts_client, pair)
        assert roles == ["customer"]

        ok(await leaders.patch(f"/api/v1/leaders/{user_id}", json={"status": "active"}, headers=OPS))
        assert (await relay.run_once()).delivered == 3  # leader.status_changed, leader.updated, audit.recorded
        roles, _ = await roles_after_refresh(accounts_client, pair)
        assert roles == ["customer", "leader"]
    await bus_client.aclose()
    # Each of the three staff actions reached the audit trail accounts keeps.
    trail = ok(await accounts_client.get("/api/v1/audit-log", headers=await dev_token(accounts_client, "s_a", ["ops"])))
    actions = [entry["action"] for entry in trail["items"]]
    assert actions == ["leader.reinstated", "leader.suspended", "leader_application.approved"]
