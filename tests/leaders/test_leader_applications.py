from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from services.common.testing import bearer, service_bearer
from tests.leaders.conftest import APPLICATION, OPS, SERVICE, leader_headers, make_leader

CUSTOMER = bearer("u1", ["customer"])


async def test_customer_applies_ops_approve_and_the_user_becomes_an_active_leader(
    leaders_client: httpx.AsyncClient,
) -> None:
    applied = await leaders_client.post("/api/v1/leader-applications", json=APPLICATION, headers=CUSTOMER)
    assert applied.status_code == 201, applied.text
    assert applied.json()["status"] == "pending"

    approved = await leaders_client.post(
        f"/api/v1/leader-applications/{applied.json()['id']}/approve", json={"manager_id": "ops-zhang"}, headers=OPS
    )
    assert approved.status_code == 200, approved.text
    leader = approved.json()
    assert leader["leader_id"] == "u1" and leader["status"] == "active" and leader["manager_id"] == "ops-zhang"
    assert leader["pickup_point"]["community"] == "Sunny Garden"

    me = await leaders_client.get("/api/v1/leaders/me", headers=leader_headers("u1"))
    assert me.status_code == 200 and me.json()["phone"] == "13800138000"
    balance = await leaders_client.get("/api/v1/leaders/u1/commission/balance", headers=leader_headers("u1"))
    assert balance.json()["available_fen"] == 0


async def test_approving_twice_is_a_conflict(leaders_client: httpx.AsyncClient) -> None:
    applied = (await leaders_client.post("/api/v1/leader-applications", json=APPLICATION, headers=CUSTOMER)).json()
    first = await leaders_client.post(f"/api/v1/leader-applications/{applied['id']}/approve", headers=OPS)
    second = await leaders_client.post(f"/api/v1/leader-applications/{applied['id']}/approve", headers=OPS)
    assert first.status_code == 200
    assert second.status_code == 409 and second.json()["code"] == "APPLICATION_ALREADY_DECIDED"


async def test_one_pending_application_per_user_and_a_leader_cannot_apply_again(
    leaders_client: httpx.AsyncClient,
) -> None:
    first = await leaders_client.post("/api/v1/leader-applications", json=APPLICATION, headers=CUSTOMER)
    again = await leaders_client.post("/api/v1/leader-applications", json=APPLICATION, headers=CUSTOMER)
    assert again.status_code == 409 and again.json()["code"] == "APPLICATION_ALREADY_PENDING"
    await leaders_client.post(f"/api/v1/leader-applications/{first.json()['id']}/approve", headers=OPS)
    as_leader = await leaders_client.post("/api/v1/leader-applications", json=APPLICATION, headers=CUSTOMER)
    assert as_leader.status_code == 409 and as_leader.json()["code"] == "ALREADY_A_LEADER"


async def test_rejection_keeps_the_reason_and_allows_a_new_application(leaders_client: httpx.AsyncClient) -> None:
    applied = (await leaders_client.post("/api/v1/leader-applications", json=APPLICATION, headers=CUSTOMER)).json()
    rejected = await leaders_client.post(
        f"/api/v1/leader-applications/{applied['id']}/reject", json={"reason": "address outside our area"}, headers=OPS
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "address outside our area"
    again = await leaders_client.post("/api/v1/leader-applications", json=APPLICATION, headers=CUSTOMER)
    assert again.status_code == 201


async def test_only_ops_decide_and_applicants_see_only_their_own(leaders_client: httpx.AsyncClient) -> None:
    applied = (await leaders_client.post("/api/v1/leader-applications", json=APPLICATION, headers=CUSTOMER)).json()
    assert (
        await leaders_client.post(f"/api/v1/leader-applications/{applied['id']}/approve", headers=CUSTOMER)
    ).status_code == 403
    other = bearer("u2", ["customer"])
    assert (await leaders_client.get(f"/api/v1/leader-applications/{applied['id']}", headers=other)).status_code == 404
    mine = await leaders_client.get("/api/v1/leader-applications", headers=CUSTOMER)
    assert [a["id"] for a in mine.json()["items"]] == [applied["id"]]
    assert (await leaders_client.get("/api/v1/leader-applications", headers=other)).json()["items"] == []


async def test_invalid_application_is_a_422(leaders_client: httpx.AsyncClient) -> None:
    bad: dict[str, Any] = {**APPLICATION, "phone": "call me"}
    assert (await leaders_client.post("/api/v1/leader-applications", json=bad, headers=CUSTOMER)).status_code == 422
    half = {**APPLICATION, "pickup_point": {**APPLICATION["pickup_point"], "latitude": 31.2}}
    assert (await leaders_client.post("/api/v1/leader-applications", json=half, headers=CUSTOMER)).status_code == 422


async def test_suspension_is_kept_in_history_published_and_seen_by_other_services(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI
) -> None:
    await make_leader(leaders_client, "l1")
    suspended = await leaders_client.patch(
        "/api/v1/leaders/l1", json={"status": "suspended", "reason": "complaints"}, headers=OPS
    )
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"

    internal = await leaders_client.get("/internal/leaders/l1", headers=SERVICE)
    assert internal.status_code == 200
    assert internal.json()["status"] == "suspended" and internal.json()["pickup_point"]["name"] == "Wang's shop"

    history = (await leaders_client.get("/api/v1/leaders/l1/history", headers=OPS)).json()["items"]
    latest = history[0]
    assert (latest["field"], latest["old_value"], latest["new_value"]) == ("status", "active", "suspended")
    assert (latest["changed_by"], latest["reason"]) == ("ops1", "complaints")

    reinstated = await leaders_client.patch("/api/v1/leaders/l1", json={"status": "active"}, headers=OPS)
    assert reinstated.json()["status"] == "active"
    async with leaders_app.state.db.engine.connect() as conn:
        events = (await conn.execute(text("SELECT type, aggregate, data FROM outbox ORDER BY seq"))).all()
    statuses = [(e.type, e.aggregate) for e in events if e.type == "leader.status_changed"]
    assert statuses == [("leader.status_changed", "leader:l1")] * 3  # approval, suspension, reinstatement
    states = [json.loads(e.data)["status"] if isinstance(e.data, str) else e.data["status"]
              for e in events if e.type == "leader.updated"]  # fmt: skip
    assert states == ["active", "suspended", "active"]  # the whole state after each, for analytics


async def test_internal_lookup_needs_the_service_role_and_knows_unknown_leaders(
    leaders_client: httpx.AsyncClient,
) -> None:
    await make_leader(leaders_client, "l1")
    assert (await leaders_client.get("/internal/leaders/l1", headers=OPS)).status_code == 401
    points = await leaders_client.get("/internal/leaders/l1", headers=service_bearer("points"))
    assert points.status_code == 403 and points.json()["code"] == "SERVICE_NOT_ALLOWED"
    missing = await leaders_client.get("/internal/leaders/nobody", headers=SERVICE)
    assert missing.status_code == 404 and missing.json()["code"] == "LEADER_NOT_FOUND"


async def test_public_profile_hides_private_fields(leaders_client: httpx.AsyncClient) -> None:
    await make_leader(leaders_client, "l1", manager_id="m1")
    public = (await leaders_client.get("/api/v1/leaders/l1", headers=CUSTOMER)).json()
    assert "phone" not in public and "manager_id" not in public
    assert public["pickup_point"]["address"] == "1 Garden Road"
    private = (await leaders_client.get("/api/v1/leaders/l1", headers=OPS)).json()
    assert private["phone"] == "13800138000" and private["manager_id"] == "m1"


async def test_patch_by_a_leader_is_forbidden(leaders_client: httpx.AsyncClient) -> None:
    await make_leader(leaders_client, "l1")
    response = await leaders_client.patch("/api/v1/leaders/l1", json={"status": "active"}, headers=leader_headers("l1"))
    assert response.status_code == 403


async def test_coordinates_must_be_numbers_not_booleans(leaders_client: httpx.AsyncClient) -> None:
    point = {**APPLICATION["pickup_point"], "latitude": 31.2, "longitude": False}
    response = await leaders_client.post(
        "/api/v1/leader-applications",
        json={**APPLICATION, "pickup_point": point},
        headers=bearer("u-geo", ["customer"]),
    )
    assert response.status_code == 422 and response.json()["code"] == "VALIDATION_ERROR"
    point["longitude"] = 121
    accepted = await leaders_client.post(
        "/api/v1/leader-applications",
        json={**APPLICATION, "pickup_point": point},
        headers=bearer("u-geo", ["customer"]),
    )
    assert accepted.status_code == 201


async def test_an_unknown_query_parameter_refuses_an_application_before_it_is_made(
    leaders_client: httpx.AsyncClient,
) -> None:
    refused = await leaders_client.post(
        "/api/v1/leader-applications?status=approved", json=APPLICATION, headers=CUSTOMER
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"loc": ["query", "status"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
    # Nothing was recorded: the application made without the parameter is the customer's first, and pending.
    applied = await leaders_client.post("/api/v1/leader-applications", json=APPLICATION, headers=CUSTOMER)
    assert applied.status_code == 201, applied.text
    assert applied.json()["status"] == "pending"
