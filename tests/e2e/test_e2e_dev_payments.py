"""A newcomer's whole flow through the gateway with the development payment provider: order, payment parameters,
pay with the development endpoint (no signature to compute), pick up, refund, the refund paid back."""

from __future__ import annotations

import httpx

from services.common.testing import bearer
from services.orders.payments.jobs import refund_sender_job
from tests.e2e.conftest import Wiring, approved_leader, customer, ok, ops


async def test_the_whole_order_flow_with_the_dev_pay_endpoint(e2e: httpx.AsyncClient, wiring: Wiring) -> None:
    orders_app = wiring.apps["orders"]
    eggs = ok(
        await e2e.post("/api/v1/products", headers=ops(), json={"name": "Eggs", "price_fen": 1200, "stock": 5}), 201
    )
    leader_id = await approved_leader(e2e, "dev-leader")
    rule = {"scope": "default", "mode": "percentage", "rate_bp": 1000}
    ok(await e2e.post("/api/v1/commission/rules", headers=ops(), json=rule), 201)
    buyer = customer("dev-buyer")
    order = ok(
        await e2e.post(
            "/api/v1/orders",
            headers=buyer | {"Idempotency-Key": "dev-flow-1"},
            json={"leader_id": leader_id, "lines": [{"product_id": eggs["id"], "quantity": 2}], "points": 0},
        ),
        201,
    )
    # Off by default: the endpoint answers 404 through the gateway as well.
    assert (await e2e.post(f"/api/v1/dev/orders/{order['id']}/pay", headers=buyer)).status_code == 404
    orders_app.state.settings = orders_app.state.settings.model_copy(update={"dev_payments": True})

    params = ok(await e2e.post(f"/api/v1/orders/{order['id']}/payment", headers=buyer))
    assert params["package"] == f"prepay_id={params['prepay_id']}"
    paid = ok(await e2e.post(f"/api/v1/dev/orders/{order['id']}/pay", headers=buyer))
    assert paid["status"] == "captured" and paid["amount_fen"] == 2400
    await wiring.deliver()
    leader = bearer(leader_id, ["leader", "customer"])
    balance = ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=leader))
    assert balance["pending_fen"] == 240  # order.paid reached leaders, as after a real payment

    ok(await e2e.post(f"/api/v1/orders/{order['id']}/arrive", headers=ops()))
    mine = ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=buyer))
    picked = ok(
        await e2e.post(
            f"/api/v1/orders/{order['id']}/pickup", headers=leader, json={"pickup_code": mine["pickup_code"]}
        )
    )
    assert picked["status"] == "picked_up"
    # After pickup a refund is an after-sale request; this one is small enough to be approved at once.
    request = ok(
        await e2e.post(
            f"/api/v1/orders/{order['id']}/after-sales",
            headers=buyer | {"Idempotency-Key": "dev-flow-refund"},
            json={"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "damaged"},
        ),
        201,
    )
    assert request["status"] == "approved"
    assert (await refund_sender_job(orders_app)).refunds_sent == 1
    refunds = ok(await e2e.get(f"/api/v1/orders/{order['id']}/refunds", headers=buyer))
    assert [r["provider_status"] for r in refunds] == ["sent"]
    refund = refunds[0]
    asked = ok(await e2e.get("/api/v1/payments/refunds", headers=ops()))["items"]
    assert [(r["out_refund_no"], r["status"], r["amount_fen"]) for r in asked] == [
        (f"refund-{refund['id']}", "succeeded", 1200)
    ]
    await wiring.deliver()
