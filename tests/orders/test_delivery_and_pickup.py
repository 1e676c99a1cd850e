"""Delivery batches at the daily cut-off, arrival at the pickup point, and pickup with the code."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from services.common.testing import asgi_client
from services.orders.delivery.jobs import delivery_cutoff_job
from services.orders.delivery.service import latest_cutoff
from tests.conftest import AppFactory
from tests.orders.conftest import (
    LEADER,
    OPS,
    OTHER_LEADER,
    build_orders_app,
    create_product,
    customer,
    get_order,
    leader,
    new_order,
    outbox_events,
    pay,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def paid_order(client: httpx.AsyncClient, lines: list[tuple[int, int]], **kwargs: Any) -> dict[str, Any]:
    return await pay(client, await new_order(client, lines, **kwargs))


def test_cutoff_is_the_latest_local_cutoff_moment() -> None:
    # 23:30 in Shanghai is after today's 22:00 cut-off; 21:00 is before it, so yesterday's applies.
    late = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    assert latest_cutoff(late, SHANGHAI, time(22, 0)) == (
        datetime(2026, 3, 10).date(),
        datetime(2026, 3, 10, 14, 0, tzinfo=UTC),
    )
    early = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
    assert latest_cutoff(early, SHANGHAI, time(22, 0))[0] == datetime(2026, 3, 9).date()


async def test_cutoff_batches_paid_orders_per_leader_with_a_pick_list(make_app: AppFactory) -> None:
    app = await build_orders_app(make_app, delivery_cutoff="00:00")
    async with asgi_client(app) as client:
        eggs = await create_product(client, name="Eggs", stock=50)
        milk = await create_product(client, name="Milk", stock=50)
        # Paid just now, after today's 00:00 cut-off: they wait for tomorrow's, so nothing is batched yet.
        a = await paid_order(client, [(eggs, 2), (milk, 1)])
        b = await paid_order(client, [(eggs, 3)], who="c2")
        c = await paid_order(client, [(milk, 4)], leader_id=OTHER_LEADER)
        unpaid = await new_order(client, [(eggs, 1)])
        result = await client.post("/api/v1/delivery-batches/cutoff", headers=OPS)
        assert result.status_code == 200 and result.json()["batches"] == []

    # A day later, tomorrow's 00:00 cut-off has passed: the paid orders are batched, one batch per leader.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    app.state.clock = lambda: tomorrow
    async with asgi_client(app) as client:
        run = await client.post("/api/v1/delivery-batches/cutoff", headers=OPS)
    batches = {batch["leader_id"]: batch["id"] for batch in run.json()["batches"]}
    assert set(batches) == {LEADER, OTHER_LEADER}
    again = await delivery_cutoff_job(app)  # the periodic job runs the same cut-off
    assert again.batches == []  # every order joins one batch only

    async with asgi_client(app) as client:
        mine = await client.get(f"/api/v1/delivery-batches/{batches[LEADER]}", headers=leader())
        assert mine.status_code == 200
        body = mine.json()
        assert body["order_ids"] == sorted([a["id"], b["id"]]) and body["status"] == "in_transit"
        assert {i["product_name"]: i["quantity"] for i in body["pick_list"]} == {"Eggs": 5, "Milk": 1}
        other = await client.get(f"/api/v1/delivery-batches/{batches[LEADER]}", headers=leader(OTHER_LEADER))
        assert other.status_code == 404
        listed = await client.get("/api/v1/delivery-batches", headers=leader(OTHER_LEADER))
        assert [x["id"] for x in listed.json()["items"]] == [batches[OTHER_LEADER]]

        received = await client.post(f"/api/v1/delivery-batches/{batches[LEADER]}/receive", headers=leader())
        assert received.status_code == 200 and received.json()["status"] == "received"
        twice = await client.post(f"/api/v1/delivery-batches/{batches[LEADER]}/receive", headers=leader())
        assert twice.status_code == 409
        assert (await get_order(client, a))["status"] == "ready_for_pickup"
        assert (await get_order(client, c))["status"] == "paid"
        assert (await get_order(client, unpaid))["status"] == "pending_payment"
        waiting = await client.get(
            "/api/v1/orders", params={"leader_id": LEADER, "status": "ready_for_pickup"}, headers=leader()
        )
        assert sorted(o["id"] for o in waiting.json()["items"]) == sorted([a["id"], b["id"]])


async def test_cutoff_job_runs_without_orders(orders_app: FastAPI) -> None:
    await delivery_cutoff_job(orders_app)


async def test_single_order_arrives_by_its_leader_only(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client)
    order = await paid_order(orders_client, [(eggs, 1)])
    path = f"/api/v1/orders/{order['id']}/arrive"
    assert (await orders_client.post(path, headers=leader(OTHER_LEADER))).status_code == 404
    by_owner = await orders_client.post(path, headers=customer())
    assert by_owner.status_code == 403 and by_owner.json()["code"] == "NOT_ORDER_LEADER"
    arrived = await orders_client.post(path, headers=leader())
    assert arrived.status_code == 200 and arrived.json()["status"] == "ready_for_pickup"
    assert (await orders_client.post(path, headers=OPS)).status_code == 409


async def ready_order(client: httpx.AsyncClient) -> dict[str, Any]:
    eggs = await create_product(client)
    order = await paid_order(client, [(eggs, 1)])
    assert (await client.post(f"/api/v1/orders/{order['id']}/arrive", headers=leader())).status_code == 200
    return order


async def test_pickup_with_the_right_code_completes_the_order(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    order = await ready_order(orders_client)
    done = await orders_client.post(
        f"/api/v1/orders/{order['id']}/pickup", json={"pickup_code": order["pickup_code"]}, headers=leader()
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "picked_up" and done.json()["picked_up_at"]
    [event] = await outbox_events(orders_app, "order.picked_up")
    assert event["data"]["paid_fen"] == 1000 and event["data"]["refunded_fen"] == 0
    log = (await orders_client.get(f"/api/v1/orders/{order['id']}/log", headers=OPS)).json()
    assert [e["to_status"] for e in log] == ["pending_payment", "paid", "ready_for_pickup", "picked_up"]


async def test_pickup_with_a_wrong_code_is_rejected(orders_client: httpx.AsyncClient) -> None:
    order = await ready_order(orders_client)
    wrong = "000000" if order["pickup_code"] != "000000" else "111111"
    response = await orders_client.post(
        f"/api/v1/orders/{order['id']}/pickup", json={"pickup_code": wrong}, headers=leader()
    )
    assert response.status_code == 422 and response.json()["code"] == "WRONG_PICKUP_CODE"
    assert (await get_order(orders_client, order))["status"] == "ready_for_pickup"


async def test_pickup_by_another_leader_is_refused(orders_client: httpx.AsyncClient) -> None:
    order = await ready_order(orders_client)
    path = f"/api/v1/orders/{order['id']}/pickup"
    other = await orders_client.post(path, json={"pickup_code": order["pickup_code"]}, headers=leader(OTHER_LEADER))
    assert other.status_code == 404
    owner = await orders_client.post(path, json={"pickup_code": order["pickup_code"]}, headers=customer())
    assert owner.status_code == 403
    assert (await get_order(orders_client, order))["status"] == "ready_for_pickup"


async def test_too_many_wrong_codes_lock_the_order(make_app: AppFactory) -> None:
    app = await build_orders_app(make_app, pickup_max_attempts=3, pickup_lock_seconds=600)
    async with asgi_client(app) as client:
        order = await ready_order(client)
        path = f"/api/v1/orders/{order['id']}/pickup"
        wrong = "000000" if order["pickup_code"] != "000000" else "111111"
        # Each refusal is an error response, and each wrong code still counts: the third locks the order.
        refusals = [(await client.post(path, json={"pickup_code": wrong}, headers=leader())) for _ in range(3)]
        assert [(r.status_code, r.json()["code"]) for r in refusals] == [
            (422, "WRONG_PICKUP_CODE"),
            (422, "WRONG_PICKUP_CODE"),
            (423, "PICKUP_LOCKED"),
        ]
        assert [r.json()["detail"] for r in refusals[:2]] == ["Wrong code; 2 tries left", "Wrong code; 1 tries left"]
        locked = await client.post(path, json={"pickup_code": order["pickup_code"]}, headers=leader())
        assert locked.status_code == 423 and locked.json()["code"] == "PICKUP_LOCKED"
        assert (await get_order(client, order))["status"] == "ready_for_pickup"


async def test_pickup_code_must_be_six_digits(orders_client: httpx.AsyncClient) -> None:
    order = await ready_order(orders_client)
    bad = await orders_client.post(
        f"/api/v1/orders/{order['id']}/pickup", json={"pickup_code": "12ab56"}, headers=leader()
    )
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"


async def test_a_suspended_leader_can_neither_receive_a_batch_nor_mark_arrival_nor_hand_over(
    make_app: AppFactory,
) -> None:
    """Orders asks leaders for the leader's status at the moment of each of the leader's own actions: a cached
    "active" from before the suspension does not count, whatever the (still valid) token says."""
    app = await build_orders_app(make_app, delivery_cutoff="00:00")
    async with asgi_client(app) as client:
        eggs = await create_product(client, name="Eggs", stock=50)
        order = await paid_order(client, [(eggs, 1)])
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    app.state.clock = lambda: tomorrow
    async with asgi_client(app) as client:
        [batch] = (await client.post("/api/v1/delivery-batches/cutoff", headers=OPS)).json()["batches"]
        app.state.leaders.add(LEADER, status="suspended")
        calls = app.state.leaders.calls
        refused = [
            await client.post(f"/api/v1/delivery-batches/{batch['id']}/receive", headers=leader()),
            await client.post(f"/api/v1/orders/{order['id']}/arrive", headers=leader()),
            await client.post(f"/api/v1/orders/{order['id']}/pickup", json={"pickup_code": "000000"}, headers=leader()),
        ]
        assert [(r.status_code, r.json()["code"]) for r in refused] == [(403, "LEADER_ACCOUNT_SUSPENDED")] * 3
        assert app.state.leaders.calls == calls + 3  # asked each time
        assert (await get_order(client, order))["status"] == "paid"
        # Operations staff still act for the pickup point.
        received = await client.post(f"/api/v1/delivery-batches/{batch['id']}/receive", headers=OPS)
        assert received.status_code == 200
