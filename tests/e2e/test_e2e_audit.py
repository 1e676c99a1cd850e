"""The audit trail through the gateway, on the real services wired to each other: every kind of staff action leaves
exactly one entry with who did it, on what, and the values before and after; only duties holding `audit.read` read
it; delivering the events again adds nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.common.testing import bearer
from tests.e2e.conftest import Wiring, approved_leader, customer, ok, pay

CATALOGUE = bearer("s-cat", ["catalogue"])
FINANCE = bearer("s-fin", ["finance"])
LEADER_ADMIN = bearer("s-la", ["leader_admin"])
OPS = bearer("s-ops", ["ops"])
AUDITOR = bearer("s-auditor", ["finance"])


@dataclass(frozen=True)
class Expected:
    """The one entry an action must leave: its actor, action and target, and values its before/after contain."""

    actor: str
    action: str
    target_type: str
    target_id: str | None  # None: any (a run's target is its date)
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    roles: list[str]


Case = Callable[[httpx.AsyncClient, Wiring], Awaitable[Expected]]


async def _product(e2e: httpx.AsyncClient, *, price_fen: int = 500, stock: int = 100) -> dict[str, Any]:
    body = {"name": "Eggs x10", "price_fen": price_fen, "stock": stock}
    product: dict[str, Any] = ok(await e2e.post("/api/v1/products", headers=CATALOGUE, json=body), 201)
    return product


async def _application(e2e: httpx.AsyncClient, sub: str) -> int:
    body = {
        "name": "Li Lei",
        "phone": "13800002222",
        "pickup_point": {"name": "Kiosk", "address": "1 Road", "community": "Elm Court"},
    }
    return int(ok(await e2e.post("/api/v1/leader-applications", headers=customer(sub), json=body), 201)["id"])


async def approval(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    application = await _application(e2e, "applicant-1")
    ok(await e2e.post(f"/api/v1/leader-applications/{application}/approve", headers=LEADER_ADMIN))
    after = {"status": "approved", "leader_id": "applicant-1"}
    return Expected("s-la", "leader_application.approved", "leader_application", str(application),
                    {"status": "pending"}, after, ["leader_admin"])  # fmt: skip


async def rejection(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    application = await _application(e2e, "applicant-2")
    body = {"reason": "no pickup point"}
    ok(await e2e.post(f"/api/v1/leader-applications/{application}/reject", headers=LEADER_ADMIN, json=body))
    after = {"status": "rejected"}
    return Expected("s-la", "leader_application.rejected", "leader_application", str(application),
                    {"status": "pending"}, after, ["leader_admin"])  # fmt: skip


async def suspension(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    leader_id = await approved_leader(e2e, "leader-s")
    body = {"status": "suspended", "reason": "complaints"}
    ok(await e2e.patch(f"/api/v1/leaders/{leader_id}", headers=LEADER_ADMIN, json=body))
    after = {"status": "suspended"}
    return Expected("s-la", "leader.suspended", "leader", leader_id, {"status": "active"}, after, ["leader_admin"])


async def pickup_point_move(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    leader_id = await approved_leader(e2e, "leader-p")
    body = {"name": "North gate", "address": "3 Garden Road", "community": "Garden Court"}
    ok(await e2e.put(f"/api/v1/leaders/{leader_id}/pickup-point", headers=LEADER_ADMIN, json=body))
    # The leader moving their own pickup point is not a staff action: it stays in the leader's history only.
    own = {**body, "name": "South gate"}
    ok(await e2e.put(f"/api/v1/leaders/{leader_id}/pickup-point", headers=bearer(leader_id, ["leader"]), json=own))
    return Expected("s-la", "leader.pickup_point_changed", "leader", leader_id, {"name": "Gate 3 kiosk"},
                    {"name": "North gate"}, ["leader_admin"])  # fmt: skip


async def price_change(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    product = await _product(e2e, price_fen=500)
    ok(await e2e.patch(f"/api/v1/products/{product['id']}", headers=CATALOGUE, json={"price_fen": 450}))
    return Expected("s-cat", "product.updated", "product", str(product["id"]),
                    {"price_fen": 500}, {"price_fen": 450}, ["catalogue"])  # fmt: skip


async def stock_change(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    product = await _product(e2e, stock=100)
    ok(await e2e.patch(f"/api/v1/products/{product['id']}", headers=CATALOGUE, json={"stock": 80}))
    return Expected("s-cat", "product.updated", "product", str(product["id"]),
                    {"stock": 100}, {"stock": 80}, ["catalogue"])  # fmt: skip


async def sku_price_change(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    product = await _product(e2e)
    body = {"name": "5 jin", "price_fen": 2000, "stock": 10}
    created = ok(await e2e.post(f"/api/v1/products/{product['id']}/skus", headers=CATALOGUE, json=body), 201)
    sku_id = created["skus"][0]["id"]
    ok(await e2e.patch(f"/api/v1/products/{product['id']}/skus/{sku_id}", headers=CATALOGUE, json={"price_fen": 1800}))
    return Expected("s-cat", "sku.updated", "sku", str(sku_id), {"price_fen": 2000}, {"price_fen": 1800},
                    ["catalogue"])  # fmt: skip


async def commission_rule(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    first = {"scope": "default", "mode": "percentage", "rate_bp": 1000}
    ok(await e2e.post("/api/v1/commission/rules", headers=FINANCE, json=first), 201)
    second = ok(await e2e.post("/api/v1/commission/rules", headers=OPS, json={**first, "rate_bp": 800}), 201)
    return Expected("s-ops", "commission_rule.created", "commission_rule", str(second["id"]),
                    {"rate_bp": 1000, "scope": "default"}, {"rate_bp": 800, "scope": "default"}, ["ops"])  # fmt: skip


async def level_change(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    body = {"name": "Gold", "rank": 1, "min_sales_fen": 5000, "min_completed_orders": 1}
    ok(await e2e.put("/api/v1/commission/levels/gold", headers=LEADER_ADMIN, json=body))
    ok(await e2e.put("/api/v1/commission/levels/gold", headers=LEADER_ADMIN, json={**body, "min_sales_fen": 9000}))
    return Expected("s-la", "level.updated", "level", "gold", {"min_sales_fen": 5000}, {"min_sales_fen": 9000},
                    ["leader_admin"])  # fmt: skip


async def points_rules(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    rules = ok(await e2e.get("/api/v1/points/rules", headers=OPS))
    body = {key: value for key, value in rules.items() if key not in ("version", "created_by", "created_at")}
    ok(await e2e.put("/api/v1/points/rules", headers=OPS, json={**body, "newcomer_points": 150}))
    before, after = {"version": 0, "newcomer_points": 100}, {"version": 1, "newcomer_points": 150}
    return Expected("s-ops", "points_rules.replaced", "points_rules", "1", before, after, ["ops"])


async def points_adjustment(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    body = {"user_id": "c-points", "points": 30, "reason": "apology for a late delivery"}
    entry = ok(await e2e.post("/api/v1/points/adjustments", headers=OPS, json=body), 201)
    return Expected("s-ops", "points.adjusted", "points_account", "c-points", {"balance": 0},
                    {"balance": 30, "points": 30, "entry_id": entry["id"]}, ["ops"])  # fmt: skip


async def flash_sale_creation(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    sale = await _flash_sale(e2e)
    return Expected("s-cat", "flash_sale.created", "flash_sale", str(sale["id"]), None,
                    {"price_fen": 99, "stock": 5, "per_user_limit": 1}, ["catalogue"])  # fmt: skip


async def flash_sale_end(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    sale = await _flash_sale(e2e)
    ended = ok(await e2e.post(f"/api/v1/flash-sales/{sale['id']}/end", headers=OPS))
    return Expected("s-ops", "flash_sale.ended", "flash_sale", str(sale["id"]),
                    {"ends_at": sale["ends_at"], "remaining": 5}, {"ends_at": ended["ends_at"]}, ["ops"])  # fmt: skip


async def _flash_sale(e2e: httpx.AsyncClient) -> dict[str, Any]:
    product = await _product(e2e, stock=20)
    body = {"product_id": product["id"], "price_fen": 99, "stock": 5, "per_user_limit": 1,
            "starts_at": "2020-01-01T00:00:00+00:00", "ends_at": "2099-01-01T00:00:00+00:00"}  # fmt: skip
    sale: dict[str, Any] = ok(await e2e.post("/api/v1/flash-sales", headers=CATALOGUE, json=body), 201)
    return sale


async def group_buy_creation(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    product = await _product(e2e)
    item = {"product_id": product["id"], "price_fen": 390, "per_customer_limit": 2}
    body = {"title": "Eggs tomorrow", "starts_at": "2030-01-01T00:00:00+08:00", "ends_at": "2030-01-01T20:00:00+08:00",
            "pickup_date": "2030-01-02", "pickup_starts": "10:00", "pickup_ends": "20:00", "regions": ["上海市"],
            "items": [item]}  # fmt: skip
    created = ok(await e2e.post("/api/v1/group-buys", headers=CATALOGUE, json=body), 201)
    after = {"pickup_date": "2030-01-02", "regions": ["上海市"],
             "items": [{**item, "sku_id": None, "min_per_community": None}]}  # fmt: skip
    return Expected("s-cat", "group_buy.created", "group_buy", str(created["id"]), None, after, ["catalogue"])


async def _withdrawal(e2e: httpx.AsyncClient, wiring: Wiring, leader_sub: str) -> int:
    """A leader with 1760 fen available and a 1000 fen withdrawal waiting for a decision."""
    leader_id = await approved_leader(e2e, leader_sub)
    rule = {"scope": "default", "mode": "percentage", "rate_bp": 1000}
    ok(await e2e.post("/api/v1/commission/rules", headers=FINANCE, json=rule), 201)
    product = await _product(e2e, price_fen=8800)
    buyer = customer(f"buyer-of-{leader_sub}")
    body = {"leader_id": leader_id, "lines": [{"product_id": product["id"], "quantity": 2}]}
    order = ok(await e2e.post("/api/v1/orders", headers=buyer | {"Idempotency-Key": leader_sub}, json=body), 201)
    await pay(e2e, wiring.apps["orders"], order, f"tx-{leader_sub}")
    ok(await e2e.post(f"/api/v1/orders/{order['id']}/arrive", headers=OPS))
    code = ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=buyer))["pickup_code"]
    leader = bearer(leader_id, ["leader"])
    ok(await e2e.post(f"/api/v1/orders/{order['id']}/pickup", headers=leader, json={"pickup_code": code}))
    await wiring.deliver()
    leaders_app = wiring.apps["leaders"]
    leaders_app.state.settings = leaders_app.state.settings.model_copy(update={"commission_freeze_days": 0})
    ok(await e2e.post("/api/v1/commission/settle", headers=FINANCE))
    headers = leader | {"Idempotency-Key": f"w-{leader_sub}"}
    withdrawal = ok(
        await e2e.post(f"/api/v1/leaders/{leader_id}/withdrawals", headers=headers, json={"amount_fen": 1000}), 201
    )
    return int(withdrawal["id"])


async def withdrawal_approval(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    withdrawal = await _withdrawal(e2e, wiring, "leader-wa")
    approved = ok(await e2e.post(f"/api/v1/withdrawals/{withdrawal}/approve", headers=FINANCE))
    return Expected("s-fin", "withdrawal.approved", "withdrawal", str(withdrawal),
                    {"status": "requested", "amount_fen": 1000}, {"status": approved["status"], "amount_fen": 1000},
                    ["finance"])  # fmt: skip


async def withdrawal_rejection(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    withdrawal = await _withdrawal(e2e, wiring, "leader-wr")
    body = {"reason": "bank details do not match"}
    ok(await e2e.post(f"/api/v1/withdrawals/{withdrawal}/reject", headers=FINANCE, json=body))
    return Expected("s-fin", "withdrawal.rejected", "withdrawal", str(withdrawal),
                    {"status": "requested"}, {"status": "rejected"},
                    ["finance"])  # fmt: skip


async def manual_settlement(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    settled = ok(await e2e.post("/api/v1/commission/settle", headers=FINANCE))
    return Expected("s-fin", "commission.settled", "settlement", None, None,
                    {"settled_accruals": settled["settled_accruals"], "settled_fen": settled["settled_fen"]},
                    ["finance"])  # fmt: skip


async def cutoff_run(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    body = {"pickup_date": "2030-01-02"}
    ok(await e2e.post("/api/v1/delivery-batches/cutoff", headers=OPS, json=body))
    return Expected("s-ops", "delivery.cutoff_run", "pickup_date", "2030-01-02", None,
                    {"pickup_date": "2030-01-02", "batches": []}, ["ops"])  # fmt: skip


async def refund_run(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    ran = ok(await e2e.post("/api/v1/payments/refunds/run", headers=FINANCE))
    return Expected("s-fin", "refunds.sent", "refund_run", None, None, ran, ["finance"])


async def _order(
    e2e: httpx.AsyncClient, wiring: Wiring, buyer: str, *, paid: bool, picked_up: bool = False, price_fen: int = 1000
) -> dict[str, Any]:
    leader_id = await approved_leader(e2e, f"leader-of-{buyer}")
    product = await _product(e2e, price_fen=price_fen)
    body = {"leader_id": leader_id, "lines": [{"product_id": product["id"], "quantity": 3}]}
    headers = customer(buyer) | {"Idempotency-Key": buyer}
    order: dict[str, Any] = ok(await e2e.post("/api/v1/orders", headers=headers, json=body), 201)
    if paid:
        await pay(e2e, wiring.apps["orders"], order, f"tx-{buyer}")
    if picked_up:
        ok(await e2e.post(f"/api/v1/orders/{order['id']}/arrive", headers=OPS))
        code = ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=customer(buyer)))["pickup_code"]
        body = {"pickup_code": code}
        ok(await e2e.post(f"/api/v1/orders/{order['id']}/pickup", headers=bearer(leader_id, ["leader"]), json=body))
    return order


async def after_sale_rejection(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    order = await _order(e2e, wiring, "c-after-sale", paid=True, picked_up=True, price_fen=30_000)
    body = {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "quality"}
    asked = ok(
        await e2e.post(f"/api/v1/orders/{order['id']}/after-sales", headers=customer("c-after-sale"), json=body), 201
    )
    assert asked["status"] == "pending"
    support = bearer("s-sup", ["support"])
    ok(
        await e2e.post(
            f"/api/v1/after-sales/{asked['id']}/reject", headers=support, json={"reason": "ripe, not rotten"}
        )
    )
    after = {"status": "rejected", "amount_fen": 30_000}
    return Expected("s-sup", "after_sale.rejected", "after_sale", str(asked["id"]), {"status": "pending"}, after,
                    ["support"])  # fmt: skip


async def staff_refund(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    order = await _order(e2e, wiring, "c-refund", paid=True)
    line = order["lines"][0]["id"]
    body = {"lines": [{"line_id": line, "quantity": 1}], "reason": "crushed in transit"}
    refund = ok(await e2e.post(f"/api/v1/orders/{order['id']}/refunds", headers=FINANCE, json=body), 201)
    return Expected("s-fin", "order.refunded", "order", str(order["id"]), {"status": "paid", "refunded_fen": 0},
                    {"refunded_fen": 1000, "refund_id": refund["id"]},
                    ["finance"])  # fmt: skip


async def ops_cancellation(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    order = await _order(e2e, wiring, "c-cancel", paid=False)
    ok(await e2e.post(f"/api/v1/orders/{order['id']}/cancel", headers=OPS))
    return Expected("s-ops", "order.cancelled", "order", str(order["id"]), {"status": "pending_payment"},
                    {"status": "cancelled"}, ["ops"])  # fmt: skip


async def staff_duties(e2e: httpx.AsyncClient, wiring: Wiring) -> Expected:
    body = {"username": "clerk", "display_name": "Clerk", "roles": ["catalogue"], "password": "correct horse battery"}
    staff = ok(await e2e.post("/api/v1/staff", headers=OPS, json=body), 201)
    ok(await e2e.patch(f"/api/v1/staff/{staff['id']}", headers=OPS, json={"roles": ["catalogue", "support"]}))
    return Expected("s-ops", "staff.updated", "staff", staff["id"],
                    {"roles": ["catalogue"]}, {"roles": ["catalogue", "support"]}, ["ops"])  # fmt: skip


CASES: dict[str, Case] = {
    case.__name__: case
    for case in (
        approval, rejection, suspension, pickup_point_move, price_change, stock_change, sku_price_change,
        commission_rule, level_change, points_rules, points_adjustment, flash_sale_creation, flash_sale_end,
        group_buy_creation, withdrawal_approval, withdrawal_rejection, manual_settlement, cutoff_run, refund_run,
        staff_refund, ops_cancellation, after_sale_rejection, staff_duties,
    )
}  # fmt: skip


def _contains(values: dict[str, Any] | None, expected: dict[str, Any] | None) -> bool:
    if expected is None:
        return values is None
    return values is not None and all(values.get(key) == value for key, value in expected.items())


@pytest.mark.parametrize("case", list(CASES))
async def test_each_kind_of_staff_action_leaves_one_entry_with_before_and_after(
    e2e: httpx.AsyncClient, wiring: Wiring, case: str
) -> None:
    expected = await CASES[case](e2e, wiring)
    await wiring.deliver()
    params = {"actor": expected.actor, "action": expected.action}
    listed = ok(await e2e.get("/api/v1/audit-log", headers=AUDITOR, params=params))["items"]
    entries = [e for e in listed if expected.target_id is None or e["target_id"] == expected.target_id]
    assert len(entries) == 1, listed
    entry = entries[0]
    assert entry["target_type"] == expected.target_type
    assert entry["actor_roles"] == expected.roles
    assert _contains(entry["before"], expected.before), (entry["before"], expected.before)
    assert _contains(entry["after"], expected.after), (entry["after"], expected.after)
    # No free text: a reason may name a person, and the trail is never anonymised (it stays with its row).
    assert "reason" not in (entry["before"] or {}) and "reason" not in (entry["after"] or {})

    # Delivered again (as after a relay that died before marking them delivered), the events add nothing.
    assert await wiring.redeliver_everything() > 0
    everything = ok(await e2e.get("/api/v1/audit-log", headers=AUDITOR, params={"limit": 200}))["items"]
    assert len({e["id"] for e in everything}) == len(everything)
    assert ok(await e2e.get("/api/v1/audit-log", headers=AUDITOR, params=params))["items"] == listed


async def test_a_staff_action_that_fails_leaves_no_entry(e2e: httpx.AsyncClient, wiring: Wiring) -> None:
    product = await _product(e2e)
    refused = await e2e.patch(f"/api/v1/products/{product['id']}", headers=CATALOGUE, json={"price_fen": -1})
    assert refused.status_code == 422
    missing = await e2e.post("/api/v1/withdrawals/999/approve", headers=FINANCE)
    assert missing.status_code == 404
    await wiring.deliver()
    actions = [e["action"] for e in ok(await e2e.get("/api/v1/audit-log", headers=AUDITOR))["items"]]
    assert actions == ["product.created"]


async def test_filters_and_duties_through_the_gateway(e2e: httpx.AsyncClient, wiring: Wiring) -> None:
    first = await _product(e2e)
    second = await _product(e2e)
    ok(await e2e.patch(f"/api/v1/products/{second['id']}", headers=OPS, json={"price_fen": 100}))
    await wiring.deliver()

    def targets(response: httpx.Response) -> list[tuple[str, str]]:
        return [(e["action"], e["target_id"]) for e in ok(response)["items"]]

    log = "/api/v1/audit-log"
    assert targets(await e2e.get(log, headers=AUDITOR, params={"target": f"product:{first['id']}"})) == [
        ("product.created", str(first["id"]))
    ]
    assert targets(await e2e.get(log, headers=AUDITOR, params={"actor": "s-ops"})) == [
        ("product.updated", str(second["id"]))
    ]
    assert len(targets(await e2e.get(log, headers=AUDITOR, params={"target": "product", "from": "2000-01-01"}))) == 3
    assert targets(await e2e.get(log, headers=AUDITOR, params={"to": "2000-01-01"})) == []
    unknown = await e2e.get(log, headers=AUDITOR, params={"who": "s-ops"})
    assert unknown.status_code == 422 and unknown.headers["content-type"].startswith("application/problem+json")

    for headers, status in ((OPS, 200), (CATALOGUE, 403), (LEADER_ADMIN, 403), (bearer("s-sup", ["support"]), 403),
                            (customer("c-1"), 403), (bearer("l-1", ["leader"]), 403), ({}, 401)):  # fmt: skip
        assert (await e2e.get(log, headers=headers)).status_code == status, headers
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await e2e.request(method, log, headers=OPS)).status_code == 405


async def test_the_unified_openapi_document_lists_the_audit_log(e2e: httpx.AsyncClient) -> None:
    document = ok(await e2e.get("/openapi.json"))
    operation = document["paths"]["/api/v1/audit-log"]["get"]
    assert operation["x-permission"] == "audit.read"
    assert {p["name"] for p in operation["parameters"]} >= {"actor", "target", "action", "from", "to", "cursor"}
    assert set(document["paths"]["/api/v1/audit-log"]) == {"get"}
