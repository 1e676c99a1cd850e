"""Reconciliation walks the receiving side: commission written straight into the leaders' books for an order that
does not exist, or for one never paid, and purchase points for an order nobody picked up, are reported as orphaned
effects; starting from the orders alone they are invisible. The consumers answer for their own books over HTTP, so the
ops route through the gateway and `groupbuy reconcile` find the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from services.leaders.commission.models import CommissionEntry, CommissionEntryKind
from services.orders.reconciliation.schemas import OrderEffectsReport
from services.orders.reconciliation.service import reconcile
from services.points.purchases.models import PurchaseAward
from tests.e2e.conftest import Wiring, approved_leader, customer, ok, ops, pay

FORGED_ORDER = 987_654
FORGED_PICKUP = 987_655


async def forge_accrual(leaders: FastAPI, *, order_id: int, line_id: int, leader_id: str, now: datetime) -> None:
    """What a forged `order.paid` left behind: an accrual entry whose order the orders service never had paid."""
    async with leaders.state.db.transaction() as session:
        session.add(
            CommissionEntry(
                leader_id=leader_id,
                kind=CommissionEntryKind.ACCRUAL,
                amount_fen=1_000_000,
                pending_delta_fen=1_000_000,
                available_delta_fen=0,
                in_withdrawal_delta_fen=0,
                withdrawn_delta_fen=0,
                pending_after_fen=1_000_000,
                available_after_fen=0,
                in_withdrawal_after_fen=0,
                withdrawn_after_fen=0,
                ref=f"forged:{order_id}:{line_id}",
                order_id=order_id,
                line_id=line_id,
                created_at=now,
            )
        )


async def forge_purchase_points(points: FastAPI, *, order_id: int, user_id: str, now: datetime) -> None:
    """What a forged `order.picked_up` left behind: purchase points for an order nobody picked up."""
    async with points.state.db.transaction() as session:
        session.add(
            PurchaseAward(
                order_id=order_id,
                user_id=user_id,
                base_fen=100_000,
                points=1000,
                points_per_yuan=1,
                rules_version=1,
                picked_up_at=now,
                created_at=now,
            )
        )


async def check(wiring: Wiring, *, walk_consumers: bool, now: datetime) -> OrderEffectsReport:
    apps = wiring.apps
    orders = apps["orders"]
    async with orders.state.db.reading() as session:
        return await reconcile(
            session,
            since=now - timedelta(hours=1),
            until=now + timedelta(hours=1),
            effects=orders.state.effects,
            receiving=orders.state.receiving if walk_consumers else None,
        )


async def test_commission_for_a_missing_or_unpaid_order_is_reported_as_orphaned(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    apps = wiring.apps
    shop = await approved_leader(e2e, "leader-orphans")
    ok(
        await e2e.post(
            "/api/v1/commission/rules", json={"scope": "default", "mode": "percentage", "rate_bp": 1000}, headers=ops()
        ),
        201,
    )
    product = ok(
        await e2e.post("/api/v1/products", json={"name": "Plums", "price_fen": 2000, "stock": 9}, headers=ops()), 201
    )

    def place(key: str) -> dict[str, object]:
        return {"leader_id": shop, "lines": [{"product_id": product["id"], "quantity": 1}]}

    buyer = customer("orphan-buyer")
    paid = ok(await e2e.post("/api/v1/orders", json=place("a"), headers=buyer | {"Idempotency-Key": "a"}), 201)
    unpaid = ok(await e2e.post("/api/v1/orders", json=place("b"), headers=buyer | {"Idempotency-Key": "b"}), 201)
    await pay(e2e, apps["orders"], paid, "tx-orphans")
    await wiring.deliver()
    now = datetime.now(UTC)

    honest = await check(wiring, walk_consumers=True, now=now)
    assert (honest.orders_checked, honest.orphaned, honest.lost, honest.differences) == (1, 0, 0, [])

    await forge_accrual(apps["leaders"], order_id=FORGED_ORDER, line_id=1, leader_id=shop, now=now)
    unpaid_line = unpaid["lines"][0]["id"]
    await forge_accrual(apps["leaders"], order_id=unpaid["id"], line_id=unpaid_line, leader_id=shop, now=now)
    await forge_purchase_points(apps["points"], order_id=FORGED_PICKUP, user_id="orphan-buyer", now=now)
    # Paid but not picked up: its purchase points have no source yet.
    await forge_purchase_points(apps["points"], order_id=paid["id"], user_id="orphan-buyer", now=now)

    # From the orders alone, only the effect on an order in the range is seen; nothing points at the others.
    blind = await check(wiring, walk_consumers=False, now=now)
    assert [(d.order_id, d.effect, d.kind) for d in blind.differences] == [(paid["id"], "purchase_points", "orphaned")]

    report = await check(wiring, walk_consumers=True, now=now)
    assert report.orphaned == 4 and report.lost == 0 and report.duplicated == 0
    found = {(d.order_id, d.service, d.effect, d.ref, d.expected, d.found, d.kind) for d in report.differences}
    assert found == {
        (FORGED_ORDER, "leaders", "accrual", "line:1", "0", "1", "orphaned"),
        (unpaid["id"], "leaders", "accrual", f"line:{unpaid_line}", "0", "1", "orphaned"),
        (FORGED_PICKUP, "points", "purchase_points", "order", "0", "1", "orphaned"),
        (paid["id"], "points", "purchase_points", "order", "0", "1", "orphaned"),
    }


async def test_the_ops_route_through_the_gateway_reports_commission_for_an_order_that_does_not_exist(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    apps = wiring.apps
    shop = await approved_leader(e2e, "leader-forged")
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    honest = ok(await e2e.post("/api/v1/reconciliation", json=window, headers=ops()), 200)
    assert (honest["orders_checked"], honest["orphaned"], honest["differences"]) == (0, 0, [])

    await forge_accrual(apps["leaders"], order_id=FORGED_ORDER, line_id=7, leader_id=shop, now=now)
    report = ok(await e2e.post("/api/v1/reconciliation", json=window, headers=ops()), 200)
    assert (report["orphaned"], report["lost"], report["duplicated"]) == (1, 0, 0)
    assert report["differences"] == [
        {
            "order_id": FORGED_ORDER,
            "service": "leaders",
            "effect": "accrual",
            "ref": "line:7",
            "expected": "0",
            "found": "1",
            "kind": "orphaned",
        }
    ]
