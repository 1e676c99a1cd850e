"""A sale day end to end through the gateway: ops build the catalogue and open a group-buy for tomorrow; a
customer of that region finds it by a part of its Chinese name, orders within the limit and pays; ops cut off
tomorrow's orders and read what to buy and pack."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from services.common.testing import bearer
from tests.e2e.conftest import Wiring, customer, ok, ops, pay
from tests.orders.conftest import outbox_events

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def leader_in(e2e: httpx.AsyncClient, sub: str, city: str, district: str) -> str:
    point = {"name": f"{sub} 驿站", "address": "1 Road", "community": "Garden", "city": city, "district": district}
    applied = ok(
        await e2e.post(
            "/api/v1/leader-applications",
            headers=customer(sub),
            json={"name": "Wang Fang", "phone": "13800001234", "pickup_point": point},
        ),
        201,
    )
    ok(await e2e.post(f"/api/v1/leader-applications/{applied['id']}/approve", headers=ops()))
    return sub


async def order(e2e: httpx.AsyncClient, who: str, body: dict[str, Any]) -> httpx.Response:
    return await e2e.post("/api/v1/orders", json=body, headers={**customer(who), "Idempotency-Key": uuid.uuid4().hex})


async def test_a_group_buy_day_from_the_catalogue_to_the_pick_lists(
    e2e: httpx.AsyncClient, service_apps: dict[str, FastAPI], wiring: Wiring
) -> None:
    catalogue = bearer("e2e-editor", ["catalogue"])
    shanghai_leader = await leader_in(e2e, "e2e-leader-sh", "上海市", "浦东新区")
    beijing_leader = await leader_in(e2e, "e2e-leader-bj", "北京市", "朝阳区")

    fruit = ok(await e2e.post("/api/v1/categories", json={"name": "水果"}, headers=catalogue), 201)
    apples_category = ok(
        await e2e.post("/api/v1/categories", json={"name": "苹果", "parent_id": fruit["id"]}, headers=catalogue), 201
    )
    product = ok(
        await e2e.post(
            "/api/v1/products",
            headers=catalogue,
            json={
                "name": "烟台红富士苹果",
                "price_fen": 3990,
                "stock": 0,
                "unit": "箱",
                "category_id": apples_category["id"],
                "images": ["https://img.example/1.jpg", "https://img.example/2.jpg"],
                "skus": [
                    {"name": "5斤装", "price_fen": 3990, "stock": 50, "cost_fen": 3000},
                    {"name": "10斤装", "price_fen": 6990, "stock": 50, "cost_fen": 5500},
                ],
            },
        ),
        201,
    )
    small, big = (sku["id"] for sku in product["skus"])
    now = datetime.now(UTC)
    tomorrow = (now.astimezone(SHANGHAI) + timedelta(days=1)).date().isoformat()
    group_buy = ok(
        await e2e.post(
            "/api/v1/group-buys",
            headers=catalogue,
            json={
                "title": "明日自提 苹果",
                "starts_at": (now - timedelta(minutes=5)).isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat(),
                "pickup_date": tomorrow,
                "pickup_starts": "10:00",
                "pickup_ends": "20:00",
                "regions": ["上海市"],
                "items": [{"product_id": product["id"], "price_fen": 2990, "per_customer_limit": 2}],
            },
        ),
        201,
    )

    # The customer joins the Shanghai leader's community, sees its group-buys and finds the apples by 2 characters.
    shopper = "e2e-shopper"
    ok(await e2e.post(f"/api/v1/leaders/{shanghai_leader}/members", headers=customer(shopper)))
    community = ok(await e2e.get("/api/v1/me/community", headers=customer(shopper)))
    assert community["region"] == "上海市/浦东新区"
    listed = ok(await e2e.get("/api/v1/group-buys", params={"leader_id": shanghai_leader}, headers=customer(shopper)))
    assert [g["id"] for g in listed["items"]] == [group_buy["id"]]
    found = ok(await e2e.get("/api/v1/products", params={"q": "苹果"}, headers=customer(shopper)))
    assert [p["id"] for p in found["items"]] == [product["id"]] and found["items"][0]["skus"][0]["cost_fen"] is None
    assert ok(await e2e.get("/api/v1/products", params={"q": "富士苹"}, headers=customer(shopper)))["items"]
    unknown = await e2e.get("/api/v1/orders", params={"created_fromx": "2026-01-01"}, headers=customer(shopper))
    assert unknown.status_code == 422 and "created_fromx" in unknown.text

    body = {
        "leader_id": shanghai_leader,
        "group_buy_id": group_buy["id"],
        "lines": [{"product_id": product["id"], "sku_id": small, "quantity": 1}],
    }
    first = ok(await order(e2e, shopper, body), 201)
    second = ok(await order(e2e, shopper, {**body, "lines": [{**body["lines"][0], "sku_id": big}]}), 201)
    third = await order(e2e, shopper, body)
    assert third.status_code == 409 and third.json()["code"] == "GROUP_BUY_LIMIT_REACHED"
    assert first["pickup_date"] == tomorrow and first["lines"][0]["unit_price_fen"] == 2990
    for placed, tx in ((first, "tx-gb-1"), (second, "tx-gb-2")):
        await pay(e2e, service_apps["orders"], placed, tx)

    # A customer of a Beijing pickup point neither sees nor orders it.
    outsider = "e2e-outsider"
    hidden = ok(await e2e.get("/api/v1/group-buys", params={"leader_id": beijing_leader}, headers=customer(outsider)))
    assert hidden["items"] == []
    refused = await order(e2e, outsider, {**body, "leader_id": beijing_leader})
    assert refused.status_code == 409 and refused.json()["code"] == "GROUP_BUY_NOT_IN_REGION"

    cutoff = ok(await e2e.post("/api/v1/delivery-batches/cutoff", json={"pickup_date": tomorrow}, headers=ops()))
    assert [(b["leader_id"], b["order_count"]) for b in cutoff["batches"]] == [(shanghai_leader, 2)]
    totals = ok(await e2e.get(f"/api/v1/procurement/{tomorrow}", headers=ops()))
    assert [(x["sku_name"], x["quantity"], x["cost_fen"]) for x in totals["lines"]] == [
        ("5斤装", 1, 3000),
        ("10斤装", 1, 5500),
    ]
    picks = ok(await e2e.get(f"/api/v1/procurement/{tomorrow}/pick-lists", headers=ops()))
    assert [(p["leader_id"], sum(x["quantity"] for x in p["lines"])) for p in picks["pick_lists"]] == [
        (shanghai_leader, 2)
    ]
    for path in (f"/api/v1/procurement/{tomorrow}", f"/api/v1/procurement/{tomorrow}/pick-lists"):
        csv = await e2e.get(path, params={"format": "csv"}, headers=ops())
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.content.startswith("\ufeff".encode()) and "attachment" in csv.headers["content-disposition"]
        assert "烟台红富士苹果" in csv.content.decode("utf-8")

    # Paid lines carry the cost price to the leader's margin commission.
    await wiring.deliver()
    paid = await outbox_events(service_apps["orders"], "order.paid")
    assert sorted(e["data"]["lines"][0]["cost_fen"] for e in paid) == [3000, 5500]
