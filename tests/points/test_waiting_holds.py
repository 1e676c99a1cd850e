"""The orders service sweeps holds whose order never came to exist; it asks which holds are still waiting."""

from __future__ import annotations

from datetime import timedelta

import httpx

from services.common.clock import utcnow
from services.common.testing import bearer, service_bearer

SERVICE = service_bearer("orders")


async def _hold(client: httpx.AsyncClient, order_id: int, user: str) -> None:
    await client.post("/api/v1/points/sign-ins", headers=bearer(user, ["customer"]))
    response = await client.post(
        "/internal/points/holds",
        json={"order_id": order_id, "user_id": user, "points": 100, "goods_fen": 10_000},
        headers=SERVICE,
    )
    assert response.status_code == 200, response.text


async def test_waiting_holds_lists_only_held_ones_made_before_the_given_time(points_client: httpx.AsyncClient) -> None:
    await _hold(points_client, 41, "u-a")
    await _hold(points_client, 42, "u-b")
    released = await points_client.post("/internal/points/holds/42/release", headers=SERVICE)
    assert released.status_code == 200

    later = (utcnow() + timedelta(seconds=5)).isoformat()
    listed = await points_client.get("/internal/points/holds", params={"created_before": later}, headers=SERVICE)
    assert listed.status_code == 200
    assert [item["order_id"] for item in listed.json()["items"]] == [41]

    earlier = (utcnow() - timedelta(minutes=5)).isoformat()
    none = await points_client.get("/internal/points/holds", params={"created_before": earlier}, headers=SERVICE)
    assert none.json()["items"] == []


async def test_waiting_holds_are_for_services_only(points_client: httpx.AsyncClient) -> None:
    params = {"created_before": utcnow().isoformat()}
    customer = await points_client.get("/internal/points/holds", params=params, headers=bearer("u", ["customer"]))
    assert customer.status_code == 401
    naive = await points_client.get(
        "/internal/points/holds", params={"created_before": "2026-01-01T00:00:00"}, headers=SERVICE
    )
    assert naive.status_code == 422
