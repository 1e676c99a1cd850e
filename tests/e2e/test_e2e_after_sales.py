"""After-sale, shortages at receipt and tickets through the gateway, on the real services wired to each other:
money moves only when a request is approved, exactly once, and commission and points follow it once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from services.common.clock import utcnow
from services.common.testing import bearer
from services.orders.orders.models import Order
from services.orders.payments.jobs import refund_sender_job
from tests.e2e.conftest import Wiring, approved_leader, customer, ok, ops, past_cutoff_of, pay

FINANCE = bearer("e2e-finance", ["finance"])
SUPPORT = bearer("e2e-support", ["support"])


async def _world(e2e: httpx.AsyncClient, leader_sub: str, price_fen: int) -> tuple[str, int]:
    leader_id = await approved_leader(e2e, leader_sub)
    ok(
        await e2e.post(
            "/api/v1/commission/rules", headers=ops(), json={"scope": "default", "mode": "percentage", "rate_bp": 1000}
        ),
        201,
    )
    product = ok(
        await e2e.post("/api/v1/products", headers=ops(), json={"name": "Apples", "price_fen": price_fen, "stock": 50}),
        201,
    )
    return leader_id, int(product["id"])


async def _picked_up(
    e2e: httpx.AsyncClient, wiring: Wiring, who: str, leader_id: str, product: int, quantity: int, points: int = 0
) -> Any:
    order = ok(
        await e2e.post(
            "/api/v1/orders",
            headers=customer(who) | {"Idempotency-Key": f"as-{who}-{product}"},
            json={"leader_id": leader_id, "lines": [{"product_id": product, "quantity": quantity}], "points": points},
        ),
        201,
    )
    await pay(e2e, wiring.apps["orders"], order, f"tx-as-{who}-{product}")
    ok(await e2e.post(f"/api/v1/orders/{order['id']}/arrive", headers=ops()))
    code = ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=customer(who)))["pickup_code"]
    leader = bearer(leader_id, ["leader"])
    ok(await e2e.post(f"/api/v1/orders/{order['id']}/pickup", headers=leader, json={"pickup_code": code}))
    await wiring.deliver()
    return order


async def _kinds(e2e: httpx.AsyncClient, leader_id: str, who: str) -> tuple[list[str], list[str]]:
    leader = bearer(leader_id, ["leader"])
    commission = ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/entries", headers=leader))["items"]
    points = ok(await e2e.get("/api/v1/points/me/entries", headers=customer(who)))["items"]
    return sorted(e["kind"] for e in commission), sorted(e["kind"] for e in points)


async def test_a_small_request_after_pickup_is_refunded_at_once_and_reversed_once(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    leader_id, apples = await _world(e2e, "leader-as-1", 1500)
    buyer = customer("as-buyer-1")
    ok(await e2e.post("/api/v1/points/sign-ins", headers=buyer), 200, 201)
    order = await _picked_up(e2e, wiring, "as-buyer-1", leader_id, apples, 2, points=100)
    line = order["lines"][0]
    before = ok(await e2e.get("/api/v1/points/me", headers=buyer))

    direct = await e2e.post(
        f"/api/v1/orders/{order['id']}/refunds",
        headers=buyer,
        json={"lines": [{"line_id": line["id"], "quantity": 1}], "reason": "bruised"},
    )
    assert direct.status_code == 409 and direct.json()["code"] == "AFTER_SALE_REQUIRED"
    assert direct.json()["after_sale"] == f"/api/v1/orders/{order['id']}/after-sales"

    request = ok(
        await e2e.post(
            f"/api/v1/orders/{order['id']}/after-sales",
            headers=buyer,
            json={
                "lines": [{"line_id": line["id"], "quantity": 1}],
                "reason": "damaged",
                "description": "crushed in the bag",
                "images": ["https://img.example/apple.jpg"],
            },
        ),
        201,
    )
    assert request["status"] == "approved" and request["refunded_fen"] == line["paid_fen"] // 2
    await wiring.deliver()
    await wiring.redeliver_everything()  # a second delivery of every event changes nothing

    commission, points = await _kinds(e2e, leader_id, "as-buyer-1")
    assert commission.count("reversal") == 1
    assert points.count("refund_return") == 1 and points.count("purchase_reversal") == 1
    balance = ok(
        await e2e.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=bearer(leader_id, ["leader"]))
    )
    assert balance["pending_fen"] == line["paid_fen"] // 10 - (line["paid_fen"] // 10) // 2
    after = ok(await e2e.get("/api/v1/points/me", headers=buyer))
    assert after["balance"] == before["balance"] + line["points_used"] // 2 - (order["payable_fen"] // 100) // 2

    orders_app = wiring.apps["orders"]
    assert (await refund_sender_job(orders_app)).refunds_sent == 1
    assert (await refund_sender_job(orders_app)).refunds_sent == 0
    done = ok(await e2e.get(f"/api/v1/after-sales/{request['id']}", headers=buyer))
    assert done["status"] == "refunded"
    assert [r.amount_fen for r in orders_app.state.refund_provider.refunds] == [request["refunded_fen"]]
    hidden = await e2e.get(f"/api/v1/after-sales/{request['id']}", headers=customer("someone-else"))
    assert hidden.status_code == 404


async def test_a_large_request_waits_is_rejected_appealed_and_refunded_once_by_finance(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    leader_id, durian = await _world(e2e, "leader-as-2", 30_000)
    order = await _picked_up(e2e, wiring, "as-buyer-2", leader_id, durian, 1)
    buyer = customer("as-buyer-2")
    body = {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "quality"}
    request = ok(await e2e.post(f"/api/v1/orders/{order['id']}/after-sales", headers=buyer, json=body), 201)
    assert request["status"] == "pending"
    path = f"/api/v1/after-sales/{request['id']}"
    await wiring.deliver()
    assert (await _kinds(e2e, leader_id, "as-buyer-2"))[0].count("reversal") == 0  # nothing moved yet

    leader = bearer(leader_id, ["leader"])
    waiting = ok(
        await e2e.get("/api/v1/after-sales", params={"leader_id": leader_id, "status": "pending"}, headers=leader)
    )
    assert [r["id"] for r in waiting["items"]] == [request["id"]]
    rejected = ok(await e2e.post(f"{path}/reject", headers=SUPPORT, json={"reason": "ripe, not rotten"}))
    assert rejected["status"] == "rejected" and rejected["decision_reason"] == "ripe, not rotten"
    ok(await e2e.post(f"{path}/appeal", headers=buyer, json={"reason": "it was rotten inside, see photo"}))
    too_big = await e2e.post(f"{path}/approve", headers=SUPPORT, json={})
    assert too_big.status_code == 403 and too_big.json()["code"] == "AFTER_SALE_FINANCE_REQUIRED"
    approved = ok(await e2e.post(f"{path}/approve", headers=FINANCE, json={"reason": "photo is convincing"}))
    assert approved["status"] == "approved" and approved["refunded_fen"] == 30_000
    again = await e2e.post(f"{path}/approve", headers=FINANCE, json={})
    assert again.status_code == 409
    await wiring.deliver()
    await wiring.redeliver_everything()

    commission, points = await _kinds(e2e, leader_id, "as-buyer-2")
    assert commission.count("reversal") == 1 and points.count("purchase_reversal") == 1
    assert (await refund_sender_job(wiring.apps["orders"])).refunds_sent == 1
    assert ok(await e2e.get(path, headers=buyer))["status"] == "refunded"
    assert ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=buyer))["refunded_fen"] == 30_000
    assert [h["action"] for h in ok(await e2e.get(path, headers=FINANCE))["history"]] == [
        "requested",
        "rejected",
        "appealed",
        "approved",
        "refunded",
    ]


async def test_two_apples_missing_at_receipt_are_refunded_across_orders_and_reported(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    leader_id, apples = await _world(e2e, "leader-as-3", 600)
    orders = []
    for n, quantity in enumerate((1, 3)):
        order = ok(
            await e2e.post(
                "/api/v1/orders",
                headers=customer(f"as-batch-{n}") | {"Idempotency-Key": f"as-batch-{n}"},
                json={"leader_id": leader_id, "lines": [{"product_id": apples, "quantity": quantity}]},
            ),
            201,
        )
        await pay(e2e, wiring.apps["orders"], order, f"tx-as-batch-{n}")
        orders.append(order)
    orders_app = wiring.apps["orders"]
    async with orders_app.state.db.engine.begin() as conn:
        for n, order in enumerate(orders):
            paid_at = utcnow() - timedelta(days=1, minutes=10 - n)
            await conn.execute(update(Order).where(Order.id == order["id"]).values(paid_at=paid_at))
    past_cutoff_of(orders_app, orders[-1])
    ok(await e2e.post("/api/v1/delivery-batches/cutoff", headers=ops()))
    await wiring.deliver()
    leader = bearer(leader_id, ["leader"])
    [batch] = ok(await e2e.get("/api/v1/delivery-batches", headers=leader))["items"]

    received = ok(
        await e2e.post(
            f"/api/v1/delivery-batches/{batch['id']}/receive",
            headers=leader,
            json={"shortages": [{"product_id": apples, "quantity": 2, "kind": "missing"}]},
        )
    )
    assert [(s["quantity"], s["refunded_quantity"], s["refund_fen"]) for s in received["shortages"]] == [(2, 2, 1200)]
    await wiring.deliver()
    refunded = [
        ok(await e2e.get(f"/api/v1/orders/{o['id']}", headers=ops()))["lines"][0]["refunded_quantity"] for o in orders
    ]
    assert refunded == [1, 1]  # the first paid gives its only apple, the next one of its three
    commission, _ = await _kinds(e2e, leader_id, "as-batch-0")
    assert commission.count("reversal") == 2

    report = ok(await e2e.get("/api/v1/shortages", headers=ops()))
    assert [(p["product_id"], p["kind"], p["quantity"]) for p in report["products"]] == [(apples, "missing", 2)]
    assert [b["batch_id"] for b in report["batches"]] == [batch["id"]]
    refused = await e2e.get("/api/v1/shortages", headers=leader)
    assert refused.status_code == 403


async def test_a_ticket_keeps_its_history_and_first_answer_time_and_stays_private(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    opened = ok(
        await e2e.post(
            "/api/v1/tickets",
            headers=customer("as-ticket-1"),
            json={"kind": "suggestion", "text": "please stock oat milk"},
        ),
        201,
    )
    path = f"/api/v1/tickets/{opened['id']}"
    assert (await e2e.get(path, headers=customer("as-ticket-2"))).status_code == 404
    ok(await e2e.patch(path, headers=SUPPORT, json={"assignee_id": "e2e-support"}))
    answered = ok(await e2e.post(f"{path}/replies", headers=SUPPORT, json={"text": "Noted, from next week."}), 201)
    assert answered["status"] == "answered" and answered["first_answer_seconds"] is not None
    closed = ok(await e2e.patch(path, headers=customer("as-ticket-1"), json={"status": "closed"}))
    assert [h["action"] for h in closed["history"]] == ["opened", "assigned", "replied", "status"]
    assert [t["id"] for t in ok(await e2e.get("/api/v1/tickets", headers=SUPPORT))["items"]] == [opened["id"]]
    assert ok(await e2e.get("/api/v1/tickets", headers=customer("as-ticket-2")))["items"] == []
    bad = await e2e.post("/api/v1/tickets", headers=customer("as-ticket-1"), json={"kind": "rant", "text": "x"})
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"
