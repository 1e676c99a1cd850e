"""The order life across all three services, through the gateway, with events delivered by the real relays.

The services are wired to each other in-process: the orders service calls leaders and points through its real HTTP
clients, and each service's relay pushes its outbox through the real HTTP bus to the others' `/internal/events`.
`deliver()` runs the relays until nothing moves, which is what the in-process relay jobs do every half second.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update

from services.common.clock import utcnow
from services.common.testing import bearer
from tests.e2e.conftest import Wiring, customer, ops
from tests.e2e.conftest import approved_leader as _leader
from tests.e2e.conftest import ok as _ok
from tests.e2e.conftest import pay as _pay


async def _setup(e2e: httpx.AsyncClient) -> tuple[str, int, int]:
    leader_id = await _leader(e2e, "leader-wang")
    _ok(
        await e2e.post(
            "/api/v1/commission/rules",
            headers=ops(),
            json={"scope": "default", "mode": "percentage", "rate_bp": 1000},
        ),
        201,
    )
    apples = _ok(
        await e2e.post("/api/v1/products", headers=ops(), json={"name": "Apples 2kg", "price_fen": 2000, "stock": 50}),
        201,
    )
    rice = _ok(
        await e2e.post("/api/v1/products", headers=ops(), json={"name": "Rice 5kg", "price_fen": 4500, "stock": 50}),
        201,
    )
    return leader_id, apples["id"], rice["id"]


async def test_pay_pick_up_and_partly_refund_moves_commission_and_points_in_every_service(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    leader_id, apples, rice = await _setup(e2e)
    buyer = customer("customer-li")
    signed = _ok(await e2e.post("/api/v1/points/sign-ins", headers=buyer), 200, 201)
    start = _ok(await e2e.get("/api/v1/points/me", headers=buyer))
    assert start["balance"] >= 100, (signed, start)

    order = _ok(
        await e2e.post(
            "/api/v1/orders",
            headers=buyer | {"Idempotency-Key": "life-1"},
            json={
                "leader_id": leader_id,
                "lines": [{"product_id": apples, "quantity": 2}, {"product_id": rice, "quantity": 1}],
                "points": 100,
            },
        ),
        201,
    )
    assert order["points_used"] == 100 and order["points_discount_fen"] == 100
    assert order["payable_fen"] == 2 * 2000 + 4500 - 100
    held = _ok(await e2e.get("/api/v1/points/me", headers=buyer))
    assert held["held"] == 100 and held["balance"] == start["balance"] - 100

    await _pay(e2e, wiring.apps["orders"], order, "tx-life-1")
    assert await wiring.deliver() >= 1

    # order.paid → a pending accrual per line on what was actually paid (10%, rounded down per line).
    paid_lines = {line["id"]: line["paid_fen"] for line in order["lines"]}
    expected_accrual = sum(paid // 10 for paid in paid_lines.values())
    leader = bearer(leader_id, ["leader"])
    balance = _ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=leader))
    assert balance["pending_fen"] == expected_accrual and balance["available_fen"] == 0
    after_pay = _ok(await e2e.get("/api/v1/points/me", headers=buyer))
    assert after_pay["held"] == 0 and after_pay["balance"] == start["balance"] - 100

    # Arrival and pickup → the freeze clock starts; purchase points for what was paid.
    _ok(await e2e.post(f"/api/v1/orders/{order['id']}/arrive", headers=ops()))
    mine = _ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=buyer))
    picked = _ok(
        await e2e.post(
            f"/api/v1/orders/{order['id']}/pickup", headers=leader, json={"pickup_code": mine["pickup_code"]}
        )
    )
    assert picked["status"] == "picked_up"
    await wiring.deliver()
    after_pickup = _ok(await e2e.get("/api/v1/points/me", headers=buyer))
    purchase_points = after_pickup["balance"] - after_pay["balance"]
    assert purchase_points == order["payable_fen"] // 100  # default rule: 1 point per yuan paid

    # One bag of apples asked back after pickup: small and soon, so approved at once → commission reversed for that
    # unit, points given back and reversed.
    apple_line = next(line for line in order["lines"] if line["product_id"] == apples)
    request = _ok(
        await e2e.post(
            f"/api/v1/orders/{order['id']}/after-sales",
            headers=buyer | {"Idempotency-Key": "life-refund-1"},
            json={"lines": [{"line_id": apple_line["id"], "quantity": 1}], "reason": "damaged"},
        ),
        201,
    )
    assert request["status"] == "approved"
    [refund] = _ok(await e2e.get(f"/api/v1/orders/{order['id']}/refunds", headers=buyer))
    await wiring.deliver()
    reversed_fen = (apple_line["paid_fen"] // 10) // 2
    balance = _ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=leader))
    assert balance["pending_fen"] == expected_accrual - reversed_fen
    entries = _ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/entries", headers=leader))["items"]
    assert sorted(e["kind"] for e in entries).count("reversal") == 1

    period = utcnow().astimezone(wiring.apps["leaders"].state.settings.tz).strftime("%Y-%m")
    statement = _ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/statements/{period}", headers=leader))
    assert statement["accrued_fen"] == expected_accrual
    assert statement["reversed_fen"] == reversed_fen
    assert statement["closing"]["pending_fen"] == expected_accrual - reversed_fen

    after_refund = _ok(await e2e.get("/api/v1/points/me", headers=buyer))
    assert after_refund["balance"] != after_pickup["balance"]  # spent points back, purchase points reversed
    assert refund["points_returned"] >= 0

    # Every event delivered a second time changes nothing anywhere.
    before = (
        _ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=leader)),
        _ok(await e2e.get("/api/v1/points/me", headers=buyer)),
        len(_ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/entries", headers=leader))["items"]),
        len(_ok(await e2e.get("/api/v1/points/me/entries", headers=buyer))["items"]),
    )
    assert await wiring.redeliver_everything() >= 4
    after = (
        _ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=leader)),
        _ok(await e2e.get("/api/v1/points/me", headers=buyer)),
        len(_ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/entries", headers=leader))["items"]),
        len(_ok(await e2e.get("/api/v1/points/me/entries", headers=buyer))["items"]),
    )
    assert after == before

    # Reconciliation agrees: nothing lost, nothing duplicated.
    window = {"from": (utcnow() - timedelta(hours=1)).isoformat(), "to": (utcnow() + timedelta(hours=1)).isoformat()}
    report = _ok(await e2e.post("/api/v1/reconciliation", headers=ops(), json=window))
    assert report["orders_checked"] == 1
    assert report["lost"] == 0 and report["duplicated"] == 0 and report["mismatched"] == 0, report
    assert report["effects_checked"] >= 2 + 1 + 1 + 1 + 1  # two accruals, a reversal, hold, purchase, its reversal


async def test_cancelled_order_releases_held_points_once(e2e: httpx.AsyncClient, wiring: Wiring) -> None:
    leader_id, apples, _ = await _setup(e2e)
    buyer = customer("customer-zhao")
    _ok(await e2e.post("/api/v1/points/sign-ins", headers=buyer), 200, 201)
    start = _ok(await e2e.get("/api/v1/points/me", headers=buyer))
    order = _ok(
        await e2e.post(
            "/api/v1/orders",
            headers=buyer | {"Idempotency-Key": "cancel-1"},
            json={"leader_id": leader_id, "lines": [{"product_id": apples, "quantity": 1}], "points": 100},
        ),
        201,
    )
    _ok(await e2e.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer))
    await wiring.deliver()
    await wiring.redeliver_everything()
    after = _ok(await e2e.get("/api/v1/points/me", headers=buyer))
    assert after["balance"] == start["balance"] and after["held"] == 0

    window = {"from": (utcnow() - timedelta(hours=1)).isoformat(), "to": (utcnow() + timedelta(hours=1)).isoformat()}
    report = _ok(await e2e.post("/api/v1/reconciliation", headers=ops(), json=window))
    assert report["lost"] == 0 and report["mismatched"] == 0 and report["orders_checked"] == 1


async def test_reconciliation_reports_effects_whose_events_never_arrived(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    leader_id, apples, _ = await _setup(e2e)
    buyer = customer("customer-sun")
    order = _ok(
        await e2e.post(
            "/api/v1/orders",
            headers=buyer | {"Idempotency-Key": "lost-1"},
            json={"leader_id": leader_id, "lines": [{"product_id": apples, "quantity": 1}], "points": 0},
        ),
        201,
    )
    await _pay(e2e, wiring.apps["orders"], order, "tx-lost-1")
    window = {"from": (utcnow() - timedelta(hours=1)).isoformat(), "to": (utcnow() + timedelta(hours=1)).isoformat()}

    # Still in the outbox: in flight, not lost.
    report = _ok(await e2e.post("/api/v1/reconciliation", headers=ops(), json=window))
    assert report["lost"] == 0 and report["in_flight"] == 1, report["differences"]

    # Marked delivered without reaching anyone (what publishing outside the transaction would do): lost.
    orders_relay = wiring.relays["orders"]
    async with wiring.apps["orders"].state.db.engine.begin() as conn:
        await conn.execute(update(orders_relay.table).values(status="delivered"))
    report = _ok(await e2e.post("/api/v1/reconciliation", headers=ops(), json=window))
    assert report["lost"] == 1
    [difference] = report["differences"]
    assert difference["order_id"] == order["id"] and difference["service"] == "leaders"
    assert difference["effect"] == "accrual" and difference["kind"] == "lost"

    async with wiring.apps["orders"].state.db.engine.connect() as conn:
        assert set((await conn.execute(select(orders_relay.table.c.status))).scalars().all()) == {"delivered"}


async def test_reconciliation_window_must_be_ordered(e2e: httpx.AsyncClient, wiring: Wiring) -> None:
    now = utcnow().isoformat()
    response = await e2e.post("/api/v1/reconciliation", headers=ops(), json={"from": now, "to": now})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    forbidden = await e2e.post("/api/v1/reconciliation", headers=customer(), json={"from": now, "to": now})
    assert forbidden.status_code == 403


async def test_a_leader_buying_at_their_own_pickup_point_earns_nothing_and_reconciliation_agrees(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    leader_id, apples, rice = await _setup(e2e)
    leader = bearer(leader_id, ["customer", "leader"])
    order = _ok(
        await e2e.post(
            "/api/v1/orders",
            headers=leader | {"Idempotency-Key": "own-1"},
            json={
                "leader_id": leader_id,
                "lines": [{"product_id": apples, "quantity": 10}, {"product_id": rice, "quantity": 6}],
                "points": 0,
            },
        ),
        201,
    )
    await _pay(e2e, wiring.apps["orders"], order, "tx-own-1")
    assert await wiring.deliver() >= 1

    # 47,000 fen paid at 10 % would be 4,700 fen: the leader's own purchase earns 0, each line says why.
    assert order["payable_fen"] == 10 * 2000 + 6 * 4500
    balance = _ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=leader))
    assert (balance["pending_fen"], balance["accrued_fen"]) == (0, 0)
    period = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    statement = _ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/statements/{period}", headers=leader))
    assert [line["rule"] for line in statement["lines"]["items"]] == ["excluded:own_order"] * 2
    assert statement["gmv_fen"] == order["payable_fen"]  # still sales of the pickup point

    window = {"from": (utcnow() - timedelta(hours=1)).isoformat(), "to": (utcnow() + timedelta(hours=1)).isoformat()}
    report = _ok(await e2e.post("/api/v1/reconciliation", headers=ops(), json=window))
    assert (report["lost"], report["in_flight"], report["differences"]) == (0, 0, [])
