"""Payment notifications: signature, idempotency, amounts, and late payments that must be refunded."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from services.orders.payments.jobs import refund_sender_job
from tests.orders.conftest import (
    OPS,
    create_product,
    customer,
    get_order,
    leader,
    new_order,
    notify_payment,
    outbox_events,
    product_stock,
)


async def test_payment_marks_the_order_paid_with_a_pickup_code_for_its_owner(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    eggs = await create_product(orders_client, price_fen=1000, stock=10)
    order = await new_order(orders_client, [(eggs, 2)], points=300)
    response = await notify_payment(orders_client, order["id"], 1700, transaction_id="tx-1")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "captured"

    paid = await get_order(orders_client, order)
    assert paid["status"] == "paid" and paid["paid_at"] is not None
    assert len(paid["pickup_code"]) == 6 and paid["pickup_code"].isdigit()
    as_leader = (await orders_client.get(f"/api/v1/orders/{order['id']}", headers=leader())).json()
    assert as_leader["pickup_code"] is None

    [event] = await outbox_events(orders_app, "order.paid")
    assert event["aggregate"] == f"order:{order['id']}"
    data = event["data"]
    assert data["paid_fen"] == 1700 and data["points_used"] == 300 and data["customer_id"] == "c1"
    assert data["lines"][0]["paid_fen"] == 1700 and data["lines"][0]["points_discount_fen"] == 300
    assert data["flash_sale_id"] is None


async def test_the_same_notification_twice_gives_one_payment(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    eggs = await create_product(orders_client)
    order = await new_order(orders_client, [(eggs, 1)])
    first, second = await asyncio.gather(
        notify_payment(orders_client, order["id"], 1000, transaction_id="tx-dup"),
        notify_payment(orders_client, order["id"], 1000, transaction_id="tx-dup"),
    )
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    third = await notify_payment(orders_client, order["id"], 1000, transaction_id="tx-dup")
    assert third.json()["id"] == first.json()["id"]
    payments = (await orders_client.get("/api/v1/payments", headers=OPS)).json()["items"]
    assert len(payments) == 1
    assert len(await outbox_events(orders_app, "order.paid")) == 1


async def test_forged_or_missing_signature_is_401(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client)
    order = await new_order(orders_client, [(eggs, 1)])
    forged = await notify_payment(orders_client, order["id"], 1000, secret="not-the-secret-at-all")
    assert forged.status_code == 401 and forged.json()["code"] == "INVALID_SIGNATURE"
    garbage = await notify_payment(orders_client, order["id"], 1000, signature="zz")
    assert garbage.status_code == 401
    unsigned = await orders_client.post(
        "/api/v1/payments/notify", json={"order_id": order["id"], "transaction_id": "t", "amount_fen": 1000}
    )
    assert unsigned.status_code == 401
    assert (await get_order(orders_client, order))["status"] == "pending_payment"


async def test_wrong_amount_is_422_and_changes_nothing(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client)
    order = await new_order(orders_client, [(eggs, 1)])
    response = await notify_payment(orders_client, order["id"], 999)
    assert response.status_code == 422 and response.json()["code"] == "AMOUNT_MISMATCH"
    assert (await get_order(orders_client, order))["status"] == "pending_payment"
    unknown = await notify_payment(orders_client, 424242, 999)
    assert unknown.status_code == 404


async def test_one_transaction_id_cannot_pay_two_orders(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client)
    a = await new_order(orders_client, [(eggs, 1)])
    b = await new_order(orders_client, [(eggs, 1)])
    assert (await notify_payment(orders_client, a["id"], 1000, transaction_id="tx-x")).status_code == 200
    reused = await notify_payment(orders_client, b["id"], 1000, transaction_id="tx-x")
    assert reused.status_code == 409 and reused.json()["code"] == "TRANSACTION_CONFLICT"


async def test_late_payment_after_cancel_is_refunded_and_stock_stays_right(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    eggs = await create_product(orders_client, stock=5)
    order = await new_order(orders_client, [(eggs, 2)])
    assert (await orders_client.post(f"/api/v1/orders/{order['id']}/cancel", headers=customer())).status_code == 200
    assert await product_stock(orders_client, eggs) == 5

    late = await notify_payment(orders_client, order["id"], 2000, transaction_id="tx-late")
    assert late.status_code == 200 and late.json()["status"] == "refund_pending"
    assert (await get_order(orders_client, order))["status"] == "cancelled"
    assert await product_stock(orders_client, eggs) == 5
    assert await outbox_events(orders_app, "order.paid") == []

    needing = await orders_client.get("/api/v1/payments", params={"status": "refund_pending"}, headers=OPS)
    assert [p["transaction_id"] for p in needing.json()["items"]] == ["tx-late"]
    result = await refund_sender_job(orders_app)
    assert result.payments_refunded == 1 and result.failures == 0
    assert (await refund_sender_job(orders_app)).payments_refunded == 0
    [recorded] = orders_app.state.refund_provider.refunds
    assert recorded.transaction_id == "tx-late" and recorded.amount_fen == 2000
    done = await orders_client.get("/api/v1/payments", params={"status": "refunded"}, headers=OPS)
    assert [p["provider_refund_id"] for p in done.json()["items"]] == [recorded.refund_id]


async def test_second_payment_of_a_paid_order_is_refunded(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    eggs = await create_product(orders_client)
    order = await new_order(orders_client, [(eggs, 1)])
    assert (await notify_payment(orders_client, order["id"], 1000, transaction_id="tx-a")).json()[
        "status"
    ] == "captured"
    second = await notify_payment(orders_client, order["id"], 1000, transaction_id="tx-b")
    assert second.json()["status"] == "refund_pending"
    assert len(await outbox_events(orders_app, "order.paid")) == 1


async def test_refund_provider_failure_is_retried(orders_app: FastAPI, orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client)
    order = await new_order(orders_client, [(eggs, 1)])
    await orders_client.post(f"/api/v1/orders/{order['id']}/cancel", headers=customer())
    await notify_payment(orders_client, order["id"], 1000)
    orders_app.state.refund_provider.fail = True
    assert (await refund_sender_job(orders_app)).failures == 1
    orders_app.state.refund_provider.fail = False
    ran = await orders_client.post("/api/v1/payments/refunds/run", headers=OPS)
    assert ran.status_code == 200 and ran.json()["payments_refunded"] == 1
    assert (await orders_client.get("/api/v1/payments", headers=customer())).status_code == 403
