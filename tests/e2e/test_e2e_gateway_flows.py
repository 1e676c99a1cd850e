"""Leaders and orders features through the gateway, on the real services wired to each other.

What the order-life test does not walk through: suspension, level promotion and demotion, communities, the CSV
statement, withdrawals, delivery batches and flash sales.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from services.common.clock import utcnow
from services.common.testing import bearer
from services.orders.flash_sales.service import CLOSE_GRACE_SECONDS, close_ended_sales
from tests.e2e.conftest import Wiring, approved_leader, customer, ok, ops, past_cutoff_of, pay


async def _product(e2e: httpx.AsyncClient, name: str, price_fen: int, stock: int = 100) -> int:
    created = ok(
        await e2e.post("/api/v1/products", headers=ops(), json={"name": name, "price_fen": price_fen, "stock": stock}),
        201,
    )
    return int(created["id"])


async def _order(e2e: httpx.AsyncClient, who: str, leader_id: str, product: int, quantity: int, key: str) -> Any:
    return await e2e.post(
        "/api/v1/orders",
        headers=customer(who) | {"Idempotency-Key": key},
        json={"leader_id": leader_id, "lines": [{"product_id": product, "quantity": quantity}]},
    )


async def _paid_and_picked_up(e2e: httpx.AsyncClient, wiring: Wiring, who: str, leader_id: str, product: int) -> Any:
    order = ok(await _order(e2e, who, leader_id, product, 2, f"{who}-{product}"), 201)
    await pay(e2e, wiring.apps["orders"], order, f"tx-{who}-{product}")
    ok(await e2e.post(f"/api/v1/orders/{order['id']}/arrive", headers=ops()))
    code = ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=customer(who)))["pickup_code"]
    leader = bearer(leader_id, ["leader"])
    ok(await e2e.post(f"/api/v1/orders/{order['id']}/pickup", headers=leader, json={"pickup_code": code}))
    await wiring.deliver()
    return order


async def test_suspended_leader_takes_no_orders_until_reinstated(e2e: httpx.AsyncClient, wiring: Wiring) -> None:
    leader_id = await approved_leader(e2e, "leader-zhou")
    product = await _product(e2e, "Milk", 600)
    public = ok(await e2e.get(f"/api/v1/leaders/{leader_id}", headers=customer("someone")))
    assert public["pickup_point"]["name"] == "Gate 3 kiosk"

    suspended = ok(
        await e2e.patch(
            f"/api/v1/leaders/{leader_id}", headers=ops(), json={"status": "suspended", "reason": "complaints"}
        )
    )
    assert suspended["status"] == "suspended"
    refused = await _order(e2e, "c-1", leader_id, product, 1, "suspended-1")
    assert refused.status_code in (409, 422) and refused.json()["code"] == "LEADER_NOT_ACTIVE"

    ok(await e2e.patch(f"/api/v1/leaders/{leader_id}", headers=ops(), json={"status": "active", "reason": "resolved"}))
    wiring.apps["orders"].state.leaders._cache.clear()  # the orders service may reuse a lookup for a few seconds
    ok(await _order(e2e, "c-1", leader_id, product, 1, "reinstated-1"), 201)
    history = ok(await e2e.get(f"/api/v1/leaders/{leader_id}/history", headers=ops()))
    assert [h["reason"] for h in history["items"] if h.get("reason")][:2] in (
        ["resolved", "complaints"],
        ["complaints", "resolved"],
    )


async def test_level_evaluation_promotes_past_a_threshold_and_demotes_below(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    leader_id = await approved_leader(e2e, "leader-wu")
    product = await _product(e2e, "Oil 5L", 5000)
    ok(
        await e2e.put(
            "/api/v1/commission/levels/bronze",
            headers=ops(),
            json={"name": "Bronze", "rank": 0, "min_sales_fen": 0, "min_completed_orders": 0},
        )
    )
    ok(
        await e2e.put(
            "/api/v1/commission/levels/gold",
            headers=ops(),
            json={"name": "Gold", "rank": 1, "min_sales_fen": 5000, "min_completed_orders": 1, "rate_bp": 1500},
        )
    )
    await _paid_and_picked_up(e2e, wiring, "c-wu", leader_id, product)

    evaluation = ok(await e2e.post("/api/v1/commission/level-evaluations", headers=ops()))
    assert evaluation["promoted"] >= 1
    assert ok(await e2e.get(f"/api/v1/leaders/{leader_id}", headers=ops()))["level"] == "gold"

    ok(
        await e2e.put(
            "/api/v1/commission/levels/gold",
            headers=ops(),
            json={"name": "Gold", "rank": 1, "min_sales_fen": 10_000_000, "min_completed_orders": 1, "rate_bp": 1500},
        )
    )
    evaluation = ok(await e2e.post("/api/v1/commission/level-evaluations", headers=ops()))
    assert evaluation["demoted"] >= 1
    assert ok(await e2e.get(f"/api/v1/leaders/{leader_id}", headers=ops()))["level"] == "bronze"
    changes = ok(await e2e.get(f"/api/v1/leaders/{leader_id}/level-changes", headers=ops()))["items"]
    assert len(changes) >= 2


async def test_customer_joins_switches_and_leaves_communities_with_history(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    first = await approved_leader(e2e, "leader-a")
    second = await approved_leader(e2e, "leader-b")
    me = customer("neighbour-1")
    ok(await e2e.post(f"/api/v1/leaders/{first}/members", headers=me), 200, 201)
    members = ok(await e2e.get(f"/api/v1/leaders/{first}/members", headers=bearer(first, ["leader"])))
    assert [m["customer_id"] for m in members["items"]] == ["neighbour-1"]
    other_leader = await e2e.get(f"/api/v1/leaders/{first}/members", headers=bearer(second, ["leader"]))
    assert other_leader.status_code in (403, 404)

    ok(await e2e.post(f"/api/v1/leaders/{second}/members", headers=me), 200, 201)  # switching is allowed by default
    assert ok(await e2e.get(f"/api/v1/leaders/{first}/members", headers=ops()))["items"] == []
    left = await e2e.delete(f"/api/v1/leaders/{second}/members/me", headers=me)
    assert left.status_code in (200, 204)
    history = ok(await e2e.get(f"/api/v1/leaders/{first}/members/history", headers=ops()))["items"]
    assert len(history) >= 2  # joined, then left by switching
    await wiring.deliver()  # member events are published for analytics
    outbox = ok(await e2e.get("/api/v1/events/leaders/outbox", headers=ops()))
    assert outbox["delivered"] >= 4 and outbox["pending"] == 0


async def test_commission_settles_and_is_withdrawn_and_the_statement_exports_to_csv(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    leader_id = await approved_leader(e2e, "leader-he")
    ok(
        await e2e.post(
            "/api/v1/commission/rules", headers=ops(), json={"scope": "default", "mode": "percentage", "rate_bp": 1000}
        ),
        201,
    )
    product = await _product(e2e, "Beef 1kg", 8800)
    await _paid_and_picked_up(e2e, wiring, "c-he", leader_id, product)  # 17600 fen paid → 1760 pending
    leaders_app = wiring.apps["leaders"]
    leaders_app.state.settings = leaders_app.state.settings.model_copy(update={"commission_freeze_days": 0})
    settled = ok(await e2e.post("/api/v1/commission/settle", headers=ops()))
    assert settled
    leader = bearer(leader_id, ["leader"])
    balance = ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=leader))
    assert balance["available_fen"] == 1760 and balance["pending_fen"] == 0

    too_much = await e2e.post(
        f"/api/v1/leaders/{leader_id}/withdrawals",
        headers=leader | {"Idempotency-Key": "w-too-much"},
        json={"amount_fen": 1761},
    )
    assert too_much.status_code == 409 and too_much.json()["code"] == "INSUFFICIENT_BALANCE"
    withdrawal = ok(
        await e2e.post(
            f"/api/v1/leaders/{leader_id}/withdrawals",
            headers=leader | {"Idempotency-Key": "w-1"},
            json={"amount_fen": 1000},
        ),
        201,
    )
    assert withdrawal["status"] == "requested"
    other = await e2e.post(
        f"/api/v1/leaders/{leader_id}/withdrawals",
        headers=bearer("leader-else", ["leader"]) | {"Idempotency-Key": "w-x"},
        json={"amount_fen": 100},
    )
    assert other.status_code in (403, 404)
    approved = ok(await e2e.post(f"/api/v1/withdrawals/{withdrawal['id']}/approve", headers=ops()))
    assert approved["status"] in ("paid", "approved")
    balance = ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=leader))
    assert balance["available_fen"] == 760 and balance["withdrawn_fen"] == 1000

    period = utcnow().astimezone(leaders_app.state.settings.tz).strftime("%Y-%m")
    csv = await e2e.get(
        f"/api/v1/leaders/{leader_id}/commission/statements/{period}", params={"format": "csv"}, headers=leader
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, so Excel reads it as UTF-8
    assert "17.60" in csv.text  # yuan with two decimals beside the fen columns
    foreign = await e2e.get(f"/api/v1/leaders/{leader_id}/commission/statements/{period}", headers=customer("c-he"))
    assert foreign.status_code in (403, 404)


async def test_delivery_batch_groups_paid_orders_and_receipt_makes_them_ready(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    leader_id = await approved_leader(e2e, "leader-lin")
    product = await _product(e2e, "Tofu", 300)
    orders = []
    for n in range(2):
        order = ok(await _order(e2e, f"c-lin-{n}", leader_id, product, n + 1, f"lin-{n}"), 201)
        await pay(e2e, wiring.apps["orders"], order, f"tx-lin-{n}")
        orders.append(order)
    orders_app = wiring.apps["orders"]
    # A minute after the cut-off that ships them (the evening before their pickup date): today's batch holds both.
    past_cutoff_of(orders_app, orders[-1])

    result = ok(await e2e.post("/api/v1/delivery-batches/cutoff", headers=ops()))
    assert len(result["batches"]) == 1
    leader = bearer(leader_id, ["leader"])
    [summary] = ok(await e2e.get("/api/v1/delivery-batches", headers=leader))["items"]
    batch = ok(await e2e.get(f"/api/v1/delivery-batches/{summary['id']}", headers=leader))
    assert sum(item["quantity"] for item in batch["pick_list"]) == 3
    ok(await e2e.post(f"/api/v1/delivery-batches/{summary['id']}/receive", headers=leader))
    for order in orders:
        assert ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=ops()))["status"] == "ready_for_pickup"


async def test_flash_sale_sells_its_stock_once_per_buyer_through_the_gateway(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    leader_id = await approved_leader(e2e, "leader-gao")
    product = await _product(e2e, "Eggs x30", 2500, stock=100)
    sale = ok(
        await e2e.post(
            "/api/v1/flash-sales",
            headers=ops(),
            json={
                "product_id": product,
                "price_fen": 100,
                "stock": 2,
                "per_user_limit": 1,
                "starts_at": (utcnow() - timedelta(minutes=1)).isoformat(),
                "ends_at": (utcnow() + timedelta(hours=1)).isoformat(),
            },
        ),
        201,
    )

    async def buy(who: str, key: str) -> httpx.Response:
        return await e2e.post(
            f"/api/v1/flash-sales/{sale['id']}/orders",
            headers=customer(who) | {"Idempotency-Key": key},
            json={"leader_id": leader_id, "quantity": 1},
        )

    first = ok(await buy("fan-1", "k1"), 201)
    assert first["status"] == "pending_payment" and first["lines"][0]["unit_price_fen"] == 100
    replay = ok(await buy("fan-1", "k1"), 201)
    assert replay["id"] == first["id"]
    limit = await buy("fan-1", "k2")
    assert limit.status_code == 409 and limit.json()["code"] == "FLASH_SALE_LIMIT_REACHED"
    ok(await buy("fan-2", "k3"), 201)
    sold_out = await buy("fan-3", "k4")
    assert sold_out.status_code == 409 and sold_out.json()["code"] == "FLASH_SALE_SOLD_OUT"
    await pay(e2e, wiring.apps["orders"], first, "tx-flash-1")
    await wiring.deliver()
    assert ok(await e2e.get(f"/api/v1/orders/{first['id']}", headers=customer("fan-1")))["status"] == "paid"

    # Ops end the sale early: nobody buys any more, and once closed its unsold unit goes back to the product.
    ended = ok(await e2e.post(f"/api/v1/flash-sales/{sale['id']}/end", headers=ops()))
    assert ended["closed_at"] is None
    orders_app = wiring.apps["orders"]
    await orders_app.state.after_transaction.drain()
    late = await buy("fan-4", "k5")
    assert late.status_code == 409 and late.json()["code"] == "FLASH_SALE_NOT_ACTIVE"
    second = ok(await e2e.get("/api/v1/orders", headers=customer("fan-2")))["items"][0]
    ok(await e2e.post(f"/api/v1/orders/{second['id']}/cancel", headers=customer("fan-2")))
    later = utcnow() + timedelta(seconds=CLOSE_GRACE_SECONDS + 1)
    [closed] = await close_ended_sales(orders_app.state.db, orders_app.state.flash, now=later)
    assert closed.id == sale["id"] and closed.returned_to_product == 1  # fan-2's cancelled unit
    assert ok(await e2e.get(f"/api/v1/products/{product}", headers=ops()))["stock"] == 99

    # A paid order refunded before it is batched for delivery puts its unit back on sale as well.
    line = first["lines"][0]
    refund = ok(
        await e2e.post(
            f"/api/v1/orders/{first['id']}/refunds",
            headers=customer("fan-1"),
            json={"lines": [{"line_id": line["id"], "quantity": 1}], "reason": "changed my mind"},
        ),
        201,
    )
    assert refund["restocked"] is True and refund["refund_fen"] == 100
    assert ok(await e2e.get(f"/api/v1/products/{product}", headers=ops()))["stock"] == 100
