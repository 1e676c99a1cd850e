"""Placing, reading, cancelling and timing out orders."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from services.orders.orders.jobs import payment_timeout_job
from tests.orders.conftest import (
    LEADER,
    OPS,
    OTHER_LEADER,
    create_product,
    customer,
    expire_order,
    get_order,
    leader,
    new_order,
    outbox_events,
    place_order,
    product_stock,
)


async def test_order_snapshots_prices_and_reserves_stock(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, price_fen=1250, stock=10)
    order = await new_order(orders_client, [(eggs, 3)])
    assert order["status"] == "pending_payment"
    assert order["goods_fen"] == order["payable_fen"] == 3750
    assert order["lines"][0]["unit_price_fen"] == 1250 and order["lines"][0]["paid_fen"] == 3750
    assert order["pickup_point"] == {"name": f"Point of {LEADER}"} and order["pickup_code"] is None
    assert await product_stock(orders_client, eggs) == 7

    # A later price change does not touch the order: its lines carry the price they were bought at.
    await orders_client.patch(f"/api/v1/products/{eggs}", json={"price_fen": 9999}, headers=OPS)
    assert (await get_order(orders_client, order))["lines"][0]["unit_price_fen"] == 1250


async def test_same_key_replays_and_another_body_is_409(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, stock=10)
    first = await place_order(orders_client, [(eggs, 2)], key="k1")
    again = await place_order(orders_client, [(eggs, 2)], key="k1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert await product_stock(orders_client, eggs) == 8  # reserved once

    other = await place_order(orders_client, [(eggs, 3)], key="k1")
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    missing = await orders_client.post(
        "/api/v1/orders", json={"leader_id": LEADER, "lines": [{"product_id": eggs, "quantity": 1}]}, headers=customer()
    )
    assert missing.status_code in (400, 422)  # the shared header dependency refuses a missing key
    assert await product_stock(orders_client, eggs) == 8


async def test_last_unit_can_be_bought_then_stock_runs_out(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, stock=3)
    await new_order(orders_client, [(eggs, 2)])
    last = await place_order(orders_client, [(eggs, 1)])
    assert last.status_code == 201
    assert await product_stock(orders_client, eggs) == 0
    none_left = await place_order(orders_client, [(eggs, 1)])
    assert none_left.status_code == 409 and none_left.json()["code"] == "OUT_OF_STOCK"


async def test_failed_line_rolls_back_stock_of_the_other_lines(orders_client: httpx.AsyncClient) -> None:
    plenty = await create_product(orders_client, stock=10, name="Rice")
    scarce = await create_product(orders_client, stock=1, name="Durian")
    response = await place_order(orders_client, [(plenty, 4), (scarce, 2)])
    assert response.status_code == 409
    assert await product_stock(orders_client, plenty) == 10
    unknown = await place_order(orders_client, [(plenty, 1), (999_999, 1)])
    assert unknown.status_code == 422 and unknown.json()["code"] == "PRODUCT_NOT_FOUND"
    assert await product_stock(orders_client, plenty) == 10


async def test_points_discount_is_spread_over_lines_exactly(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    a = await create_product(orders_client, price_fen=333, stock=10, name="A")
    b = await create_product(orders_client, price_fen=500, stock=10, name="B")
    c = await create_product(orders_client, price_fen=167, stock=10, name="C")
    order = await new_order(orders_client, [(a, 1), (b, 1), (c, 1)], points=101)
    assert order["points_used"] == 101 and order["points_discount_fen"] == 101
    assert order["payable_fen"] == 1000 - 101
    lines = {line["product_id"]: line for line in order["lines"]}
    # 101 over 333/500/167: floors 33/50/16 (=99), the two largest remainders (.63 of A, .67 of C) get one more.
    assert [lines[p]["points_discount_fen"] for p in (a, b, c)] == [34, 50, 17]
    assert [lines[p]["points_used"] for p in (a, b, c)] == [34, 50, 17]
    assert sum(line["paid_fen"] for line in order["lines"]) == order["payable_fen"]
    assert orders_app.state.points.holds[order["id"]] == ("c1", 101, 101)


async def test_points_refusal_keeps_its_code_and_leaves_nothing_behind(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    eggs = await create_product(orders_client, price_fen=100_000, stock=5)
    too_many = await place_order(orders_client, [(eggs, 1)], points=20_000)
    assert too_many.status_code == 409 and too_many.json()["code"] == "INSUFFICIENT_POINTS"
    over_cap = await place_order(orders_client, [(eggs, 1)], points=60_000)
    assert over_cap.status_code == 422 and over_cap.json()["code"] == "POINTS_OVER_CAP"
    assert await product_stock(orders_client, eggs) == 5
    listing = await orders_client.get("/api/v1/orders", headers=customer())
    assert listing.json()["items"] == []

    orders_app.state.points.down = True
    down = await place_order(orders_client, [(eggs, 1)], points=10)
    assert down.status_code == 503 and down.json()["code"] == "POINTS_UNAVAILABLE"
    assert await product_stock(orders_client, eggs) == 5


async def test_failure_after_the_hold_releases_the_points(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    eggs = await create_product(orders_client, price_fen=100, stock=5)
    orders_app.state.points.discount_override = 10_000  # a discount larger than the goods is refused after holding
    response = await place_order(orders_client, [(eggs, 2)], points=50)
    assert response.status_code == 422 and response.json()["code"] == "POINTS_NOT_USABLE"
    assert orders_app.state.points.released and orders_app.state.points.holds == {}
    assert orders_app.state.points.balances["c1"] == 10_000
    assert await product_stock(orders_client, eggs) == 5


async def test_leader_must_exist_and_be_active(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client)
    unknown = await place_order(orders_client, [(eggs, 1)], leader_id="nobody")
    assert unknown.status_code == 422 and unknown.json()["code"] == "LEADER_NOT_FOUND"
    suspended = await place_order(orders_client, [(eggs, 1)], leader_id="SUSPENDED")
    assert suspended.status_code == 409 and suspended.json()["code"] == "LEADER_NOT_ACTIVE"


async def test_lines_and_quantities_are_capped(make_app: Any) -> None:
    from services.common.testing import asgi_client
    from tests.orders.conftest import build_orders_app

    app = await build_orders_app(make_app, max_lines_per_order=2, max_quantity_per_line=5)
    async with asgi_client(app) as client:
        products = [await create_product(client, name=f"p{i}", stock=100) for i in range(3)]
        hoard = await place_order(client, [(products[0], 6)])
        assert hoard.status_code == 422 and hoard.json()["code"] == "QUANTITY_TOO_LARGE"
        wide = await place_order(client, [(p, 1) for p in products])
        assert wide.status_code == 422 and wide.json()["code"] == "TOO_MANY_LINES"
        twice = await place_order(client, [(products[0], 1), (products[0], 1)])
        assert twice.status_code == 422 and twice.json()["code"] == "DUPLICATE_PRODUCT"
        assert (await place_order(client, [(products[0], 5), (products[1], 5)])).status_code == 201


async def test_only_owner_leader_and_ops_read_an_order(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client)
    order = await new_order(orders_client, [(eggs, 1)])
    path = f"/api/v1/orders/{order['id']}"
    assert (await orders_client.get(path, headers=customer("c2"))).status_code == 404
    assert (await orders_client.get(path, headers=leader(OTHER_LEADER))).status_code == 404
    assert (await orders_client.get(path, headers=leader(LEADER))).status_code == 200
    assert (await orders_client.get(path, headers=OPS)).status_code == 200


async def test_the_orders_leader_reads_it_but_may_not_cancel_it_and_a_stranger_cannot_tell_it_exists(
    orders_client: httpx.AsyncClient,
) -> None:
    eggs = await create_product(orders_client, stock=10)
    order = await new_order(orders_client, [(eggs, 1)])
    path = f"/api/v1/orders/{order['id']}"
    assert (await orders_client.get(path, headers=leader(LEADER))).status_code == 200

    by_leader = await orders_client.post(f"{path}/cancel", headers=leader(LEADER))
    assert by_leader.status_code == 403 and by_leader.json()["code"] == "NOT_ORDER_OWNER"
    by_stranger = await orders_client.post(f"{path}/cancel", headers=leader(OTHER_LEADER))
    assert by_stranger.status_code == 404 and by_stranger.json()["code"] == "ORDER_NOT_FOUND"
    assert (await get_order(orders_client, order))["status"] == "pending_payment"
    assert await product_stock(orders_client, eggs) == 9


async def test_listing_filters_by_leader_and_status(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, stock=50)
    mine = await new_order(orders_client, [(eggs, 1)])
    await new_order(orders_client, [(eggs, 1)], who="c2", leader_id=OTHER_LEADER)

    own = (await orders_client.get("/api/v1/orders", headers=customer())).json()["items"]
    assert [o["id"] for o in own] == [mine["id"]]
    at_point = await orders_client.get("/api/v1/orders", params={"leader_id": LEADER}, headers=leader(LEADER))
    assert [o["id"] for o in at_point.json()["items"]] == [mine["id"]]
    foreign = await orders_client.get("/api/v1/orders", params={"leader_id": LEADER}, headers=leader(OTHER_LEADER))
    assert foreign.status_code == 403
    by_status = await orders_client.get("/api/v1/orders", params={"status": "cancelled"}, headers=OPS)
    assert by_status.json()["items"] == []
    assert len((await orders_client.get("/api/v1/orders", headers=OPS)).json()["items"]) == 2


async def test_customer_cancel_returns_stock_once(orders_app: FastAPI, orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, stock=10)
    order = await new_order(orders_client, [(eggs, 4)], points=100)
    path = f"/api/v1/orders/{order['id']}/cancel"
    assert (await orders_client.post(path, headers=customer("c2"))).status_code == 404
    cancelled = await orders_client.post(path, headers=customer())
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "customer"
    again = await orders_client.post(path, headers=customer())
    assert again.status_code == 409 and again.json()["code"] == "ORDER_NOT_CANCELLABLE"
    assert await product_stock(orders_client, eggs) == 10
    events = await outbox_events(orders_app, "order.cancelled")
    assert len(events) == 1 and events[0]["aggregate"] == f"order:{order['id']}"
    assert events[0]["data"]["points_used"] == 100 and events[0]["data"]["reason"] == "customer"


async def test_timeout_job_cancels_only_expired_orders(orders_app: FastAPI, orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, stock=10)
    old = await new_order(orders_client, [(eggs, 2)])
    fresh = await new_order(orders_client, [(eggs, 3)])
    await expire_order(orders_app, old["id"])
    assert await payment_timeout_job(orders_app) == 1
    assert await payment_timeout_job(orders_app) == 0
    assert (await get_order(orders_client, old))["cancel_reason"] == "payment_timeout"
    assert (await get_order(orders_client, fresh))["status"] == "pending_payment"
    assert await product_stock(orders_client, eggs) == 10 - 3
    log = (await orders_client.get(f"/api/v1/orders/{old['id']}/log", headers=customer())).json()
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in log] == [
        (None, "pending_payment", "c1"),
        ("pending_payment", "cancelled", "system"),
    ]


async def test_customer_cancel_racing_the_timeout_returns_stock_once(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    eggs = await create_product(orders_client, stock=100)
    # Two customers: one may hold only ORDERS_MAX_UNPAID_ORDERS_PER_CUSTOMER unpaid orders.
    orders = [await new_order(orders_client, [(eggs, 1)], who=f"c{1 + i % 2}") for i in range(10)]
    for order in orders:
        await expire_order(orders_app, order["id"])
    cancels = [
        orders_client.post(f"/api/v1/orders/{o['id']}/cancel", headers=customer(o["customer_id"])) for o in orders
    ]
    jobs = asyncio.gather(payment_timeout_job(orders_app), payment_timeout_job(orders_app))
    by_jobs, responses = await asyncio.gather(jobs, asyncio.gather(*cancels))
    by_customer = sum(1 for r in responses if r.status_code == 200)
    assert sum(by_jobs) + by_customer == 10
    assert all(r.status_code in (200, 409) for r in responses)
    assert await product_stock(orders_client, eggs) == 100
    assert len(await outbox_events(orders_app, "order.cancelled")) == 10
