"""Refunds per line and quantity: never more than bought, proportional to what was paid, within the window."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from services.common.clock import utcnow
from services.common.testing import asgi_client, bearer
from services.orders.delivery.jobs import run_cutoff
from services.orders.orders.allocation import cumulative_share, spread
from services.orders.payments.jobs import refund_sender_job
from tests.conftest import AppFactory
from tests.orders.conftest import (
    OPS,
    build_orders_app,
    create_product,
    customer,
    get_order,
    leader,
    new_order,
    outbox_events,
    pay,
)

FINANCE = bearer("fin-1", ["finance"])
SUPPORT = bearer("sup-1", ["support"])


def refund(client: httpx.AsyncClient, order_id: int, lines: list[tuple[int, int]], who: str = "c1") -> Any:
    body = {"lines": [{"line_id": line, "quantity": q} for line, q in lines], "reason": "bruised"}
    headers = {"ops": OPS, "finance": FINANCE, "support": SUPPORT}.get(who) or customer(who)
    return client.post(f"/api/v1/orders/{order_id}/refunds", json=body, headers=headers)


def test_spread_and_cumulative_shares_always_add_up() -> None:
    for total in (0, 1, 7, 101, 9999):
        for weights in ([1], [1, 1, 1], [333, 500, 167], [0, 5], [7, 0, 0, 2]):
            assert sum(spread(total, weights)) == total
    # 3 units paid 1000 fen: pieces of 1, 1, 1 return 333, 333, 334; pieces of 2 then 1 return 666, 334.
    assert [cumulative_share(1000, 3, r, 1) for r in range(3)] == [333, 333, 334]
    assert cumulative_share(1000, 3, 0, 2) + cumulative_share(1000, 3, 2, 1) == 1000


async def test_partial_refunds_follow_what_was_paid_per_line(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    a = await create_product(orders_client, price_fen=1000, stock=10, name="A")
    b = await create_product(orders_client, price_fen=500, stock=10, name="B")
    order = await pay(orders_client, await new_order(orders_client, [(a, 3), (b, 1)], points=700))
    line_a = next(line for line in order["lines"] if line["product_id"] == a)
    # Line A: 3000 fen of goods carries 600 of the 700 points discount, so 2400 fen were paid for 3 units.
    assert line_a["paid_fen"] == 2400 and line_a["points_used"] == 600

    pieces = []
    for _ in range(3):
        response = await refund(orders_client, order["id"], [(line_a["id"], 1)])
        assert response.status_code == 201, response.text
        pieces.append((response.json()["refund_fen"], response.json()["points_returned"]))
    assert pieces == [(800, 200), (800, 200), (800, 200)]
    after = await get_order(orders_client, order)
    assert after["refunded_fen"] == 2400 and after["refund_status"] == "partial"
    refunded_line = next(line for line in after["lines"] if line["id"] == line_a["id"])
    assert refunded_line["refunded_quantity"] == 3 and refunded_line["refunded_fen"] == 2400

    events = await outbox_events(orders_app, "order.refunded")
    assert len(events) == 3 and all(e["data"]["picked_up"] is False for e in events)
    assert events[0]["data"]["lines"][0] == {
        "line_id": line_a["id"],
        "product_id": a,
        "quantity": 1,
        "line_quantity": 3,
        "refund_fen": 800,
        "points_returned": 200,
    }
    listed = await orders_client.get(f"/api/v1/orders/{order['id']}/refunds", headers=customer())
    assert [r["refund_fen"] for r in listed.json()] == [800, 800, 800]


async def test_uneven_pieces_still_refund_the_exact_line_total(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, price_fen=333, stock=10)
    order = await pay(orders_client, await new_order(orders_client, [(eggs, 3)], points=100))
    line = order["lines"][0]
    assert line["paid_fen"] == 899
    first = (await refund(orders_client, order["id"], [(line["id"], 1)])).json()
    rest = (await refund(orders_client, order["id"], [(line["id"], 2)])).json()
    assert first["refund_fen"] + rest["refund_fen"] == 899
    assert first["points_returned"] + rest["points_returned"] == 100
    assert (await get_order(orders_client, order))["refund_status"] == "full"


async def test_refund_beyond_what_was_bought_is_409(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, stock=10)
    order = await pay(orders_client, await new_order(orders_client, [(eggs, 2)]))
    line_id = order["lines"][0]["id"]
    too_many = await refund(orders_client, order["id"], [(line_id, 3)])
    assert too_many.status_code == 409 and too_many.json()["code"] == "REFUND_EXCEEDS_PURCHASE"
    assert (await refund(orders_client, order["id"], [(line_id, 2)])).status_code == 201
    again = await refund(orders_client, order["id"], [(line_id, 1)])
    assert again.status_code == 409
    split = await refund(orders_client, order["id"], [(line_id, 1), (line_id, 1)])
    assert split.status_code == 409
    unknown = await refund(orders_client, order["id"], [(999_999, 1)])
    assert unknown.status_code == 422 and unknown.json()["code"] == "ORDER_LINE_NOT_FOUND"


async def test_only_owner_or_ops_refund_and_only_paid_orders(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, stock=10)
    unpaid = await new_order(orders_client, [(eggs, 1)])
    line_id = unpaid["lines"][0]["id"]
    early = await refund(orders_client, unpaid["id"], [(line_id, 1)])
    assert early.status_code == 409 and early.json()["code"] == "ORDER_NOT_REFUNDABLE"
    order = await pay(orders_client, await new_order(orders_client, [(eggs, 2)]))
    line_id = order["lines"][0]["id"]
    assert (await refund(orders_client, order["id"], [(line_id, 1)], who="c2")).status_code == 404
    by_leader = await orders_client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"lines": [{"line_id": line_id, "quantity": 1}], "reason": "x"},
        headers=leader(),
    )
    # The order's leader may read it, so they are told why they cannot refund it rather than that it is missing.
    assert by_leader.status_code == 403 and by_leader.json()["code"] == "NOT_ORDER_OWNER"
    assert (await refund(orders_client, order["id"], [(line_id, 1)], who="ops")).status_code == 201


async def test_units_refunded_before_delivery_go_back_on_sale_and_later_ones_do_not(make_app: AppFactory) -> None:
    app = await build_orders_app(make_app, delivery_cutoff="00:00")
    async with asgi_client(app) as client:
        eggs = await create_product(client, stock=10)

        async def stock() -> int:
            return int((await client.get(f"/api/v1/products/{eggs}", headers=OPS)).json()["stock"])

        first = await pay(client, await new_order(client, [(eggs, 3)]))
        second = await pay(client, await new_order(client, [(eggs, 2)], who="c2"))
        assert await stock() == 5
        kept = await refund(client, first["id"], [(first["lines"][0]["id"], 1)])
        assert kept.status_code == 201 and kept.json()["restocked"] is True
        assert await stock() == 6

    # Tomorrow's cut-off batches both orders: their units are on the way to the pickup point now. The customers
    # are sent to the after-sale path; finance still refunds directly, and nothing goes back on sale.
    await run_cutoff(app.state.db, tz=ZoneInfo("Asia/Shanghai"), cutoff=time(0, 0), now=utcnow() + timedelta(days=1))
    async with asgi_client(app) as client:
        for order, who in ((first, "c1"), (second, "c2")):
            refused = await refund(client, order["id"], [(order["lines"][0]["id"], 1)], who=who)
            assert refused.status_code == 409 and refused.json()["code"] == "AFTER_SALE_REQUIRED"
            assert refused.json()["after_sale"] == f"/api/v1/orders/{order['id']}/after-sales"
            late = await refund(client, order["id"], [(order["lines"][0]["id"], 1)], who="finance")
            assert late.status_code == 201 and late.json()["restocked"] is False
        assert await stock() == 6
        listed = await client.get(f"/api/v1/orders/{first['id']}/refunds", headers=OPS)
        assert [r["restocked"] for r in listed.json()] == [True, False]


async def picked_up(client: httpx.AsyncClient) -> dict[str, Any]:
    eggs = await create_product(client, stock=10)
    order = await pay(client, await new_order(client, [(eggs, 2)]))
    await client.post(f"/api/v1/orders/{order['id']}/arrive", headers=leader())
    done = await client.post(
        f"/api/v1/orders/{order['id']}/pickup", json={"pickup_code": order["pickup_code"]}, headers=leader()
    )
    assert done.status_code == 200
    return order


async def test_after_pickup_a_customer_is_sent_to_the_after_sale_path_and_finance_refunds_directly_on_record(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    order = await picked_up(orders_client)
    line_id = order["lines"][0]["id"]
    refused = await refund(orders_client, order["id"], [(line_id, 1)])
    assert refused.status_code == 409 and refused.json()["code"] == "AFTER_SALE_REQUIRED"
    assert refused.headers["content-type"].startswith("application/problem+json")
    # Support reviews after-sale requests but does not refund directly: that is finance's duty (on this route
    # support holds nothing, so the order is not theirs to see).
    by_support = await refund(orders_client, order["id"], [(line_id, 1)], who="support")
    assert by_support.status_code == 404 and by_support.json()["code"] == "ORDER_NOT_FOUND"
    assert await outbox_events(orders_app, "order.refunded") == []

    response = await refund(orders_client, order["id"], [(line_id, 1)], who="finance")
    assert response.status_code == 201 and response.json()["after_pickup"] is True
    assert response.json()["restocked"] is False  # the customer has the goods
    assert response.json()["requested_by"] == "fin-1"
    [event] = await outbox_events(orders_app, "order.refunded")
    assert event["data"]["picked_up"] is True
    # The order log says who refunded and why; the audit trail who and how much (never the free text).
    log = (await orders_client.get(f"/api/v1/orders/{order['id']}/log", headers=customer())).json()
    assert log[-1]["actor"] == "fin-1" and "direct refund by staff: bruised" in log[-1]["note"]
    [entry] = [
        e["data"] for e in await outbox_events(orders_app, "audit.recorded") if e["data"]["action"] == "order.refunded"
    ]
    assert (entry["actor"], entry["actor_roles"], entry["after"]["refund_fen"]) == ("fin-1", ["finance"], 1000)

    result = await refund_sender_job(orders_app)
    assert result.refunds_sent == 1
    [sent] = orders_app.state.refund_provider.refunds
    assert sent.amount_fen == 1000 and sent.refund_key == f"refund-{response.json()['id']}"
    listed = await orders_client.get(f"/api/v1/orders/{order['id']}/refunds", headers=OPS)
    assert listed.json()[0]["provider_status"] == "sent"


async def test_refund_with_an_idempotency_key_happens_once(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, stock=10)
    order = await pay(orders_client, await new_order(orders_client, [(eggs, 3)]))
    body = {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "late"}
    headers = {**customer(), "Idempotency-Key": "refund-1"}
    path = f"/api/v1/orders/{order['id']}/refunds"
    first = await orders_client.post(path, json=body, headers=headers)
    second = await orders_client.post(path, json=body, headers=headers)
    assert first.json() == second.json()
    assert (await get_order(orders_client, order))["lines"][0]["refunded_quantity"] == 1
