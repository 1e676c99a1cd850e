"""Group-buys (团购活动): prices, the window, regions, per-customer limits, the minimum per community at the close,
the cut-off of a chosen pickup date, and procurement totals and pick lists."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import asgi_client, bearer
from services.orders.group_buys.jobs import close_job
from tests.conftest import AppFactory
from tests.orders.conftest import LEADER, OPS, OTHER_LEADER, build_orders_app, customer, outbox_events, pay

CATALOGUE = bearer("editor", ["catalogue"])
TOMORROW = (datetime.now(UTC) + timedelta(days=2)).date()


async def product_with_skus(client: httpx.AsyncClient, stock: int = 100) -> dict[str, Any]:
    body = {
        "name": "红富士苹果",
        "price_fen": 3990,
        "stock": 0,
        "skus": [
            {"name": "5斤装", "price_fen": 3990, "stock": stock, "cost_fen": 3000},
            {"name": "10斤装", "price_fen": 6990, "stock": stock},
        ],
    }
    response = await client.post("/api/v1/products", json=body, headers=CATALOGUE)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


async def open_group_buy(
    client: httpx.AsyncClient, items: list[dict[str, Any]], regions: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {
        "title": "明日达 苹果节",
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "pickup_date": TOMORROW.isoformat(),
        "pickup_starts": "09:00",
        "pickup_ends": "18:00",
        "regions": regions or ["上海市"],
        "items": items,
        **extra,
    }
    response = await client.post("/api/v1/group-buys", json=body, headers=CATALOGUE)
    assert response.status_code == 201, response.text
    group_buy: dict[str, Any] = response.json()
    return group_buy


async def order_in(
    client: httpx.AsyncClient,
    group_buy: dict[str, Any],
    lines: list[tuple[int, int | None, int]],
    *,
    who: str = "c1",
    leader_id: str = LEADER,
) -> httpx.Response:
    body = {
        "leader_id": leader_id,
        "group_buy_id": group_buy["id"],
        "lines": [{"product_id": p, "sku_id": s, "quantity": q} for p, s, q in lines],
    }
    return await client.post(
        "/api/v1/orders", json=body, headers={**customer(who), "Idempotency-Key": uuid.uuid4().hex}
    )


@pytest.fixture
async def regional_app(make_app: AppFactory) -> FastAPI:
    app = await build_orders_app(make_app)
    app.state.leaders.add("BEIJING", region="北京市/朝阳区")
    app.state.leaders.add("NOWHERE", region=None)
    return app


@pytest.fixture
async def client(regional_app: FastAPI) -> Any:
    async with asgi_client(regional_app) as c:
        yield c


async def test_a_group_buy_order_takes_the_group_price_and_the_pickup_date(client: httpx.AsyncClient) -> None:
    product = await product_with_skus(client)
    small = product["skus"][0]["id"]
    group_buy = await open_group_buy(client, [{"product_id": product["id"], "sku_id": small, "price_fen": 2990}])
    assert group_buy["state"] == "open" and group_buy["items"][0]["sku_name"] == "5斤装"
    response = await order_in(client, group_buy, [(product["id"], small, 2)])
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["pickup_date"] == TOMORROW.isoformat() and order["group_buy_id"] == group_buy["id"]
    assert order["goods_fen"] == 5980 and order["lines"][0]["unit_price_fen"] == 2990
    other_sku = await order_in(client, group_buy, [(product["id"], product["skus"][1]["id"], 1)])
    assert other_sku.status_code == 409 and other_sku.json()["code"] == "NOT_IN_GROUP_BUY"


async def test_the_per_customer_limit_holds_across_orders_and_comes_back_on_cancellation(
    client: httpx.AsyncClient,
) -> None:
    product = await product_with_skus(client)
    small, big = product["skus"][0]["id"], product["skus"][1]["id"]
    group_buy = await open_group_buy(
        client, [{"product_id": product["id"], "price_fen": 2990, "per_customer_limit": 2}]
    )
    first = await order_in(client, group_buy, [(product["id"], small, 1), (product["id"], big, 1)])
    assert first.status_code == 201, first.text
    third = await order_in(client, group_buy, [(product["id"], small, 1)])
    assert third.status_code == 409 and third.json()["code"] == "GROUP_BUY_LIMIT_REACHED"
    assert (await order_in(client, group_buy, [(product["id"], small, 2)], who="c2")).status_code == 201
    await client.post(f"/api/v1/orders/{first.json()['id']}/cancel", headers=customer())
    assert (await order_in(client, group_buy, [(product["id"], small, 2)])).status_code == 201


@pytest.mark.postgres
async def test_the_limit_holds_when_one_customer_orders_in_parallel(client: httpx.AsyncClient) -> None:
    product = await product_with_skus(client)
    small = product["skus"][0]["id"]
    group_buy = await open_group_buy(
        client, [{"product_id": product["id"], "sku_id": small, "price_fen": 2990, "per_customer_limit": 2}]
    )
    answers = await asyncio.gather(*(order_in(client, group_buy, [(product["id"], small, 1)]) for _ in range(6)))
    assert sorted(a.status_code for a in answers) == [201, 201, 409, 409, 409, 409]


async def test_customers_outside_the_regions_neither_see_nor_order_the_group_buy(client: httpx.AsyncClient) -> None:
    product = await product_with_skus(client)
    small = product["skus"][0]["id"]
    group_buy = await open_group_buy(client, [{"product_id": product["id"], "sku_id": small, "price_fen": 2990}])
    seen = await client.get("/api/v1/group-buys", params={"leader_id": LEADER}, headers=customer())
    assert [g["id"] for g in seen.json()["items"]] == [group_buy["id"]] and seen.json()["total"] == 1
    for leader_id in ("BEIJING", "NOWHERE"):
        unseen = await client.get("/api/v1/group-buys", params={"leader_id": leader_id}, headers=customer())
        assert unseen.json()["items"] == [], leader_id
        read = await client.get(f"/api/v1/group-buys/{group_buy['id']}?leader_id={leader_id}", headers=customer())
        assert read.status_code == 404
        refused = await order_in(client, group_buy, [(product["id"], small, 1)], leader_id=leader_id)
        assert refused.status_code == 409 and refused.json()["code"] == "GROUP_BUY_NOT_IN_REGION"
    anyone = await client.get("/api/v1/group-buys", headers=customer())
    assert anyone.status_code == 422 and anyone.json()["code"] == "LEADER_OR_REGION_REQUIRED"
    in_region = await client.get("/api/v1/products", params={"region": "上海市/浦东新区"}, headers=customer())
    assert [p["id"] for p in in_region.json()["items"]] == [product["id"]]
    elsewhere = await client.get("/api/v1/products", params={"region": "北京市"}, headers=customer())
    assert elsewhere.json()["items"] == []


async def test_a_group_buy_takes_orders_only_within_its_window(client: httpx.AsyncClient) -> None:
    product = await product_with_skus(client)
    small = product["skus"][0]["id"]
    later = datetime.now(UTC) + timedelta(hours=2)
    group_buy = await open_group_buy(
        client,
        [{"product_id": product["id"], "sku_id": small, "price_fen": 2990}],
        starts_at=later.isoformat(),
        ends_at=(later + timedelta(hours=1)).isoformat(),
    )
    assert group_buy["state"] == "scheduled"
    refused = await order_in(client, group_buy, [(product["id"], small, 1)])
    assert refused.status_code == 409 and refused.json()["code"] == "GROUP_BUY_NOT_OPEN"


async def test_a_community_below_the_minimum_is_refunded_once_at_the_close(regional_app: FastAPI) -> None:
    async with asgi_client(regional_app) as client:
        product = await product_with_skus(client)
        small = product["skus"][0]["id"]
        plain = await client.post("/api/v1/products", json={"name": "鸡蛋", "price_fen": 100, "stock": 50}, headers=OPS)
        eggs = plain.json()["id"]
        group_buy = await open_group_buy(
            client,
            [
                {"product_id": product["id"], "sku_id": small, "price_fen": 2990, "min_per_community": 3},
                {"product_id": eggs, "price_fen": 90},
            ],
        )
        # Community L1 orders 2 apples (below 3), community L2 orders 3.
        short = (await order_in(client, group_buy, [(product["id"], small, 2), (eggs, None, 1)])).json()
        enough = [
            (await order_in(client, group_buy, [(product["id"], small, q)], who=who, leader_id=OTHER_LEADER)).json()
            for who, q in (("c1", 1), ("c2", 2))
        ]
        for order in [short, *enough]:
            await pay(client, order)

    ended = datetime.now(UTC) + timedelta(hours=3)  # past the end and the payment timeout
    regional_app.state.clock = lambda: ended
    await close_job(regional_app)
    await close_job(regional_app)  # a second run (or process) changes nothing

    async with asgi_client(regional_app) as client:
        refunds = (await client.get(f"/api/v1/orders/{short['id']}/refunds", headers=OPS)).json()
        assert [(r["refund_fen"], [line["quantity"] for line in r["lines"]]) for r in refunds] == [(5980, [2])]
        for order in enough:
            assert (await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=OPS)).json() == []
        outcomes = (await client.get(f"/api/v1/group-buys/{group_buy['id']}/outcomes", headers=CATALOGUE)).json()
        assert [(o["leader_id"], o["quantity"], o["reached"], o["orders_affected"]) for o in outcomes] == [
            (LEADER, 2, False, 1),
            (OTHER_LEADER, 3, True, 0),
        ]
        closed = (await client.get(f"/api/v1/group-buys/{group_buy['id']}", headers=CATALOGUE)).json()
        assert closed["state"] == "closed"
    refunded = await outbox_events(regional_app, "order.refunded")
    assert [e["data"]["order_id"] for e in refunded] == [short["id"]]


async def test_cutoff_of_a_pickup_date_batches_its_orders_and_procurement_adds_them_up(
    client: httpx.AsyncClient,
) -> None:
    product = await product_with_skus(client)
    small, big = product["skus"][0]["id"], product["skus"][1]["id"]
    group_buy = await open_group_buy(client, [{"product_id": product["id"], "price_fen": 2990}])
    a = (await order_in(client, group_buy, [(product["id"], small, 2), (product["id"], big, 1)])).json()
    b = (await order_in(client, group_buy, [(product["id"], small, 3)], who="c2", leader_id=OTHER_LEADER)).json()
    unpaid = (await order_in(client, group_buy, [(product["id"], small, 5)], who="c3")).json()
    for order in (a, b):
        await pay(client, order)
    assert unpaid["status"] == "pending_payment"

    date = TOMORROW.isoformat()
    run = await client.post("/api/v1/delivery-batches/cutoff", json={"pickup_date": date}, headers=OPS)
    assert run.status_code == 200, run.text
    batches = run.json()["batches"]
    assert [(x["leader_id"], x["pickup_date"], x["order_count"]) for x in batches] == [
        (LEADER, date, 1),
        (OTHER_LEADER, date, 1),
    ]
    again = await client.post("/api/v1/delivery-batches/cutoff", json={"pickup_date": date}, headers=OPS)
    assert [x["id"] for x in again.json()["batches"]] == [x["id"] for x in batches]  # every batch of the date
    refused = await client.post("/api/v1/delivery-batches/cutoff", json={"pickup_date": date}, headers=CATALOGUE)
    assert refused.status_code == 403

    totals = (await client.get(f"/api/v1/procurement/{date}", headers=OPS)).json()
    assert totals["orders"] == 2
    assert [(x["sku_name"], x["quantity"], x["paid_fen"], x["cost_fen"]) for x in totals["lines"]] == [
        ("5斤装", 5, 5 * 2990, 5 * 3000),
        ("10斤装", 1, 2990, None),
    ]
    picks = (await client.get(f"/api/v1/procurement/{date}/pick-lists", headers=OPS)).json()["pick_lists"]
    assert [(p["leader_id"], [(x["sku_name"], x["quantity"]) for x in p["lines"]]) for p in picks] == [
        (LEADER, [("5斤装", 2), ("10斤装", 1)]),
        (OTHER_LEADER, [("5斤装", 3)]),
    ]
    csv = await client.get(f"/api/v1/procurement/{date}", params={"format": "csv"}, headers=OPS)
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"] == f'attachment; filename="procurement-{date}.csv"'
    text = csv.content.decode("utf-8")
    assert text.startswith("\ufeffproduct_id,product_name,sku_id,sku_name")
    assert f"{product['id']},红富士苹果,{small},5斤装,,5,14950,149.50,15000,150.00" in text
    pick_csv = await client.get(f"/api/v1/procurement/{date}/pick-lists?format=csv", headers=OPS)
    assert pick_csv.content.decode("utf-8").count("\r\n") == 4  # the header and three rows
    # `.csv` twins (a date-valued last segment included) answer the same files for generated clients.
    assert (await client.get(f"/api/v1/procurement/{date}.csv", headers=OPS)).content == csv.content
    twin = await client.get(f"/api/v1/procurement/{date}/pick-lists.csv", headers=OPS)
    assert twin.content == pick_csv.content
    assert (await client.get(f"/api/v1/procurement/{date}", headers=customer())).status_code == 403
