"""Pickup points carry a region and are found near a place; a customer reads their community; commission on margin."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from services.common.events.contract import ORDER_PAID
from services.common.testing import bearer, service_bearer
from tests.leaders.conftest import OPS, Orders
from tests.leaders.test_commission import balance, deliver, rule

CUSTOMER = bearer("c1", ["customer"])

# Around People's Square, Shanghai: about 1.1 km between the first two, 12 km to the third.
PEOPLES_SQUARE = (31.2304, 121.4737)
POINTS = {
    "near": (31.2330, 121.4840, "黄浦区"),
    "nearer": (31.2310, 121.4750, "黄浦区"),
    "far": (31.1200, 121.4000, "徐汇区"),
}


async def leader_at(client: httpx.AsyncClient, leader_id: str, lat: float, lng: float, district: str) -> None:
    body = {
        "name": "Wang Fang",
        "phone": "13800001234",
        "pickup_point": {
            "name": f"Kiosk {leader_id}",
            "address": "3 Garden Road",
            "community": "Garden Court",
            "city": "上海市",
            "district": district,
            "latitude": lat,
            "longitude": lng,
        },
    }
    applied = await client.post("/api/v1/leader-applications", json=body, headers=bearer(leader_id, ["customer"]))
    assert applied.status_code == 201, applied.text
    approved = await client.post(f"/api/v1/leader-applications/{applied.json()['id']}/approve", headers=OPS)
    assert approved.status_code == 200, approved.text


async def test_pickup_points_within_the_radius_come_nearest_first(leaders_client: httpx.AsyncClient) -> None:
    for leader_id, (lat, lng, district) in POINTS.items():
        await leader_at(leaders_client, leader_id, lat, lng, district)
    lat, lng = PEOPLES_SQUARE
    found = await leaders_client.get(
        "/api/v1/pickup-points", params={"lat": lat, "lng": lng, "radius_m": 3000}, headers=CUSTOMER
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert [p["leader_id"] for p in body["items"]] == ["nearer", "near"]
    assert body["total"] == 2
    assert body["items"][0]["distance_m"] < body["items"][1]["distance_m"] < 3000
    assert body["items"][0]["region"] == "上海市/黄浦区"
    wider = await leaders_client.get(
        "/api/v1/pickup-points", params={"lat": lat, "lng": lng, "radius_m": 20_000}, headers=CUSTOMER
    )
    assert [p["leader_id"] for p in wider.json()["items"]] == ["nearer", "near", "far"]


async def test_pickup_point_search_refuses_unknown_and_out_of_range_parameters(
    leaders_client: httpx.AsyncClient,
) -> None:
    unknown = await leaders_client.get("/api/v1/pickup-points?lat=31&lng=121&radius=5", headers=CUSTOMER)
    assert unknown.status_code == 422 and "radius" in unknown.text
    out = await leaders_client.get("/api/v1/pickup-points?lat=91&lng=121", headers=CUSTOMER)
    assert out.status_code == 422


async def test_a_customer_reads_the_community_they_joined_with_its_region(leaders_client: httpx.AsyncClient) -> None:
    lat, lng, district = POINTS["near"]
    await leader_at(leaders_client, "near", lat, lng, district)
    before = await leaders_client.get("/api/v1/me/community", headers=CUSTOMER)
    assert before.status_code == 404 and before.json()["code"] == "NO_COMMUNITY"
    joined = await leaders_client.post("/api/v1/leaders/near/members", headers=CUSTOMER)
    assert joined.status_code == 200, joined.text
    mine = await leaders_client.get("/api/v1/me/community", headers=CUSTOMER)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["leader_id"] == "near" and body["region"] == "上海市/黄浦区"
    assert body["leader"]["pickup_point"]["name"] == "Kiosk near"


async def test_other_services_learn_the_leader_region(leaders_client: httpx.AsyncClient) -> None:
    lat, lng, district = POINTS["far"]
    await leader_at(leaders_client, "far", lat, lng, district)
    internal = await leaders_client.get("/internal/leaders/far", headers=service_bearer("orders"))
    assert internal.status_code == 200 and internal.json()["region"] == "上海市/徐汇区"


def paid_with_cost(orders: Orders, paid_fen: int, unit_cost_fen: int | None, quantity: int = 10) -> Any:
    order = orders.paid("l1", [(11, quantity, paid_fen)])
    line = order.lines[0].model_copy(update={"cost_fen": unit_cost_fen})
    return order.model_copy(update={"lines": [line]})


async def test_margin_commission_is_the_rate_of_paid_minus_cost(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    await leader_at(leaders_client, "l1", 31.2, 121.4, "黄浦区")
    await rule(leaders_client, scope="default", mode="margin", rate_bp=1000)
    # Paid 1,000 yuan for goods costing 800 (10 units at 80 yuan): 10% of the 200-yuan margin is 20 yuan.
    await deliver(leaders_app, ORDER_PAID, paid_with_cost(orders, 100_000, 8_000))
    assert (await balance(leaders_client))["pending_fen"] == 2_000


async def test_margin_commission_on_a_loss_or_an_unknown_cost_is_zero(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    await leader_at(leaders_client, "l1", 31.2, 121.4, "黄浦区")
    await rule(leaders_client, scope="default", mode="margin", rate_bp=1500)
    await deliver(leaders_app, ORDER_PAID, paid_with_cost(orders, 100_000, 12_000))  # sold below cost
    await deliver(leaders_app, ORDER_PAID, paid_with_cost(orders, 100_000, None))  # no cost price on the line
    assert (await balance(leaders_client))["pending_fen"] == 0
    entries = await leaders_client.get("/api/v1/leaders/l1/commission/entries", headers=OPS)
    assert [e["amount_fen"] for e in entries.json()["items"]] == [0, 0]


async def test_a_margin_rule_needs_a_rate_and_no_amount(leaders_client: httpx.AsyncClient) -> None:
    for body in ({"scope": "default", "mode": "margin"}, {"scope": "default", "mode": "margin", "amount_fen": 100}):
        refused = await leaders_client.post("/api/v1/commission/rules", json=body, headers=OPS)
        assert refused.status_code == 422, refused.text
