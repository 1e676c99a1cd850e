"""Commission: rules, accrual on payment, freeze from pickup, settlement, proportional reversal, reconciliation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import utcnow
from services.common.events.consumer import apply_event
from services.common.events.contract import ORDER_PAID, ORDER_PICKED_UP, ORDER_REFUNDED
from services.common.events.store import Event
from services.common.testing import bearer, service_bearer
from services.leaders.commission import service as commission_service
from services.leaders.commission.jobs import settlement_job
from services.leaders.commission.models import CommissionEntry, CommissionEntryKind
from services.leaders.db import inbox
from services.leaders.subscriptions import build_handlers
from tests.leaders.conftest import OPS, SERVICE, Orders, leader_headers, make_leader

APPLES, MILK, EGGS = 11, 12, 13


def event(type_: str, payload: Any) -> Event:
    return Event(
        id=str(uuid.uuid4()), type=type_, occurred_at=utcnow(), source="orders", data=payload.model_dump(mode="json")
    )


async def deliver(app: FastAPI, type_: str, payload: Any) -> Event:
    ev = event(type_, payload)
    assert await apply_event(app.state.db, inbox, build_handlers(app.state.settings), ev)
    return ev


async def rule(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/commission/rules", json=body, headers=OPS)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def balance(client: httpx.AsyncClient, leader_id: str = "l1") -> dict[str, Any]:
    response = await client.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=OPS)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def entries(client: httpx.AsyncClient, leader_id: str = "l1") -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/leaders/{leader_id}/commission/entries", headers=OPS)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def settle(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/api/v1/commission/settle", headers=OPS)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
async def leader(leaders_client: httpx.AsyncClient) -> dict[str, Any]:
    return await make_leader(leaders_client, "l1")


async def test_reference_example_2000_yuan_at_10_percent_earns_200_yuan(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    await deliver(leaders_app, ORDER_PAID, orders.paid("l1", [(MILK, 10, 200_000)]))
    assert (await balance(leaders_client))["pending_fen"] == 20_000


async def test_reference_example_ten_10_yuan_bags_of_apples_at_1_yuan_per_item_earn_10_yuan(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="product", product_id=APPLES, mode="per_item", amount_fen=100)
    await deliver(leaders_app, ORDER_PAID, orders.paid("l1", [(APPLES, 10, 10_000)]))
    assert (await balance(leaders_client))["pending_fen"] == 1000


async def test_rule_precedence_is_product_then_level_then_default(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    await leaders_client.put(
        "/api/v1/commission/levels/gold",
        json={"name": "Gold", "rank": 2, "min_sales_fen": 0, "min_completed_orders": 0},
        headers=OPS,
    )
    await make_leader(leaders_client, "l1", level="gold")
    await make_leader(leaders_client, "l2")
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    await rule(leaders_client, scope="level", level="gold", mode="percentage", rate_bp=1500)
    await rule(leaders_client, scope="product", product_id=APPLES, mode="per_item", amount_fen=100)
    lines = [(APPLES, 2, 1000), (MILK, 1, 1000)]
    await deliver(leaders_app, ORDER_PAID, orders.paid("l1", lines))
    await deliver(leaders_app, ORDER_PAID, orders.paid("l2", lines))
    gold = sorted(e["amount_fen"] for e in await entries(leaders_client, "l1"))
    plain = sorted(e["amount_fen"] for e in await entries(leaders_client, "l2"))
    assert gold == [150, 200]  # apples per item (product rule), milk at the gold rate
    assert plain == [100, 200]  # apples per item, milk at the default rate


async def test_percentage_rounds_down_per_line_not_per_order(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1250)
    # 12.5% of 999 fen is 124.875: each line rounds down to 124, so 248 (per order it would have been 249).
    await deliver(leaders_app, ORDER_PAID, orders.paid("l1", [(APPLES, 1, 999), (MILK, 1, 999)]))
    assert (await balance(leaders_client))["pending_fen"] == 248


async def test_no_matching_rule_accrues_zero_but_still_records_the_line(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    order = orders.paid("l1", [(APPLES, 1, 500)])
    await deliver(leaders_app, ORDER_PAID, order)
    recon = await leaders_client.post(
        "/internal/reconciliation/commission", json={"order_ids": [order.order_id]}, headers=SERVICE
    )
    assert recon.json()["orders"][str(order.order_id)]["accruals"] == {str(order.lines[0].line_id): 1}
    assert (await balance(leaders_client))["pending_fen"] == 0


async def test_a_rule_change_never_changes_commission_already_accrued(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    order = orders.paid("l1", [(MILK, 4, 10_000)])
    await deliver(leaders_app, ORDER_PAID, order)
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=500)
    # The refund of half the line reverses half of the 10% accrued, not half of today's 5%.
    await deliver(leaders_app, ORDER_REFUNDED, orders.refunded(order, [(0, 2)]))
    assert (await balance(leaders_client))["pending_fen"] == 500
    later = orders.paid("l1", [(MILK, 4, 10_000)])
    await deliver(leaders_app, ORDER_PAID, later)
    assert (await balance(leaders_client))["pending_fen"] == 1000


async def test_rule_scheduled_for_later_does_not_apply_yet_and_is_listed_as_scheduled(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    later = (utcnow() + timedelta(days=1)).isoformat()
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=2000, effective_from=later)
    await deliver(leaders_app, ORDER_PAID, orders.paid("l1", [(MILK, 1, 1000)]))
    assert (await balance(leaders_client))["pending_fen"] == 100
    listed = (await leaders_client.get("/api/v1/commission/rules", headers=OPS)).json()["items"]
    assert [(r["rate_bp"], r["state"]) for r in listed] == [(1000, "current"), (2000, "scheduled")]


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "level", "mode": "percentage", "rate_bp": 100},
        {"scope": "default", "mode": "percentage", "rate_bp": 100, "product_id": 1},
        {"scope": "default", "mode": "percentage", "amount_fen": 100},
        {"scope": "default", "mode": "per_item", "rate_bp": 100},
        {"scope": "default", "mode": "percentage", "rate_bp": 10_001},
        {"scope": "default", "mode": "percentage", "rate_bp": "1000"},
        {"scope": "default", "mode": "per_item", "amount_fen": 1.5},
        {"scope": "default", "mode": "percentage", "rate_bp": 100, "effective_from": "2025-01-01T00:00:00"},
    ],
)
async def test_invalid_rules_are_refused(leaders_client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await leaders_client.post("/api/v1/commission/rules", json=body, headers=OPS)
    assert response.status_code == 422, response.text


async def test_rules_are_for_ops_only(leaders_client: httpx.AsyncClient, leader: Any) -> None:
    body = {"scope": "default", "mode": "percentage", "rate_bp": 100}
    assert (
        await leaders_client.post("/api/v1/commission/rules", json=body, headers=leader_headers("l1"))
    ).status_code == 403
    assert (await leaders_client.get("/api/v1/commission/rules", headers=leader_headers("l1"))).status_code == 403


async def test_a_redelivered_payment_accrues_once(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    paid = event(ORDER_PAID, orders.paid("l1", [(MILK, 1, 1000)]))
    assert await apply_event(leaders_app.state.db, inbox, build_handlers(leaders_app.state.settings), paid)
    assert not await apply_event(leaders_app.state.db, inbox, build_handlers(leaders_app.state.settings), paid)
    # Even the same payload under a new event id (a producer retry) accrues nothing more: one accrual per line.
    again = Event(**{**paid.model_dump(), "id": str(uuid.uuid4())})
    assert await apply_event(leaders_app.state.db, inbox, build_handlers(leaders_app.state.settings), again)
    assert (await balance(leaders_client))["pending_fen"] == 100
    assert len(await entries(leaders_client)) == 1


async def test_commission_settles_only_after_pickup_and_the_freeze(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    recent, old, not_picked = (orders.paid("l1", [(MILK, 1, 1000)]) for _ in range(3))
    for order in (recent, old, not_picked):
        await deliver(leaders_app, ORDER_PAID, order)
    await deliver(leaders_app, ORDER_PICKED_UP, orders.picked_up(recent, days_ago=2))
    await deliver(leaders_app, ORDER_PICKED_UP, orders.picked_up(old, days_ago=8))

    result = await settle(leaders_client)
    assert result["settled_accruals"] == 1 and result["settled_fen"] == 100
    after = await balance(leaders_client)
    assert (after["pending_fen"], after["available_fen"]) == (200, 100)


async def test_settlement_is_idempotent(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    order = orders.paid("l1", [(MILK, 1, 5000), (APPLES, 1, 3000)])
    await deliver(leaders_app, ORDER_PAID, order)
    await deliver(leaders_app, ORDER_PICKED_UP, orders.picked_up(order, days_ago=10))
    first = await settle(leaders_client)
    second = await settle(leaders_client)
    assert (first["settled_accruals"], first["settled_fen"]) == (2, 800)
    assert (second["settled_accruals"], second["settled_fen"]) == (0, 0)
    assert (await balance(leaders_client))["available_fen"] == 800
    assert [e["kind"] for e in await entries(leaders_client)].count("settlement") == 2


async def test_the_settlement_job_settles_by_the_app_clock_and_goes_on_past_an_accrual_that_fails(
    leaders_client: httpx.AsyncClient,
    leaders_app: FastAPI,
    leader: Any,
    orders: Orders,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    order = orders.paid("l1", [(MILK, 1, 5000), (APPLES, 1, 3000)])
    await deliver(leaders_app, ORDER_PAID, order)
    await deliver(leaders_app, ORDER_PICKED_UP, orders.picked_up(order, days_ago=2))
    assert (await settlement_job(leaders_app)).settled_accruals == 0  # still in its freeze

    later = utcnow() + timedelta(days=10)
    leaders_app.state.clock = lambda: later
    settle_accrual = commission_service.settle_accrual
    failed: list[int] = []

    async def fails_once(session: AsyncSession, *, accrual_id: int, now: datetime) -> int | None:
        if not failed:
            failed.append(accrual_id)
            raise RuntimeError("the disk is full")
        return await settle_accrual(session, accrual_id=accrual_id, now=now)

    monkeypatch.setattr(commission_service, "settle_accrual", fails_once)
    first = await settlement_job(leaders_app)
    assert first.settled_accruals == 1  # the other accrual settled although the first failed
    second = await settlement_job(leaders_app)
    assert second.settled_accruals == 1  # the failed one, on the next run
    assert (first.settled_fen + second.settled_fen, (await balance(leaders_client))["available_fen"]) == (800, 800)
    settled_at = {e["created_at"] for e in await entries(leaders_client) if e["kind"] == "settlement"}
    assert {datetime.fromisoformat(at) for at in settled_at} == {later}


async def test_settlement_days_are_local_dates(leaders_app: FastAPI) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from services.leaders.commission.service import settlement_cutoff

    shanghai = ZoneInfo("Asia/Shanghai")
    # 2025-03-10 01:00 in Shanghai is still 2025-03-09 in UTC; the freeze counts Shanghai days.
    now = datetime(2025, 3, 9, 17, 0, tzinfo=UTC)
    cutoff = settlement_cutoff(now, freeze_days=7, tz=shanghai)
    assert cutoff == datetime(2025, 3, 4, 0, 0, tzinfo=shanghai)  # picked up on 3 March or before: due


async def test_partial_refund_before_settlement_reverses_from_pending(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    order = orders.paid("l1", [(MILK, 3, 1000)])  # 100 fen commission on 3 items
    await deliver(leaders_app, ORDER_PAID, order)
    await deliver(leaders_app, ORDER_REFUNDED, orders.refunded(order, [(0, 1)]))
    assert (await balance(leaders_client))["pending_fen"] == 67  # floor(100 * 2 / 3) stays
    await deliver(leaders_app, ORDER_REFUNDED, orders.refunded(order, [(0, 1)]))
    await deliver(leaders_app, ORDER_REFUNDED, orders.refunded(order, [(0, 1)]))
    current = await balance(leaders_client)
    assert current["pending_fen"] == 0 and current["reversed_fen"] == 100  # all of it, not 33 + 33 + 33
    reversal_amounts = [e["amount_fen"] for e in await entries(leaders_client) if e["kind"] == "reversal"]
    assert sorted(reversal_amounts) == [-34, -33, -33]


async def test_refund_after_settlement_reverses_from_available_and_can_leave_the_leader_owing(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    order = orders.paid("l1", [(MILK, 2, 20_000)])  # 2000 fen
    await deliver(leaders_app, ORDER_PAID, order)
    await deliver(leaders_app, ORDER_PICKED_UP, orders.picked_up(order, days_ago=8))
    await settle(leaders_client)
    withdrawal = await leaders_client.post(
        "/api/v1/leaders/l1/withdrawals",
        json={"amount_fen": 1500},
        headers={**leader_headers("l1"), "Idempotency-Key": "w1"},
    )
    assert withdrawal.status_code == 201
    await deliver(leaders_app, ORDER_REFUNDED, orders.refunded(order, [(0, 2)], picked_up=True))
    after = await balance(leaders_client)
    assert after["available_fen"] == -1500 and after["owed_fen"] == 1500 and after["pending_fen"] == 0
    blocked = await leaders_client.post(
        "/api/v1/leaders/l1/withdrawals",
        json={"amount_fen": 100},
        headers={**leader_headers("l1"), "Idempotency-Key": "w2"},
    )
    assert blocked.status_code == 409 and blocked.json()["code"] == "INSUFFICIENT_BALANCE"


async def test_a_redelivered_refund_reverses_once(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    order = orders.paid("l1", [(MILK, 2, 2000)])
    await deliver(leaders_app, ORDER_PAID, order)
    refund = orders.refunded(order, [(0, 1)])
    refunded = event(ORDER_REFUNDED, refund)
    assert await apply_event(leaders_app.state.db, inbox, build_handlers(leaders_app.state.settings), refunded)
    assert not await apply_event(leaders_app.state.db, inbox, build_handlers(leaders_app.state.settings), refunded)
    assert await apply_event(
        leaders_app.state.db, inbox, build_handlers(leaders_app.state.settings), event(ORDER_REFUNDED, refund)
    )
    assert (await balance(leaders_client))["pending_fen"] == 100
    recon = await leaders_client.post(
        "/internal/reconciliation/commission", json={"order_ids": [order.order_id, 999_999]}, headers=SERVICE
    )
    assert recon.status_code == 200
    body = recon.json()["orders"]
    line_id = order.lines[0].line_id
    assert body[str(order.order_id)] == {
        "accruals": {str(line_id): 1},
        "reversals": {f"{refund.refund_id}:{line_id}": 1},
    }
    assert body["999999"] == {"accruals": {}, "reversals": {}}


async def test_refund_before_pickup_then_pickup_settles_only_what_is_left(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    order = orders.paid("l1", [(MILK, 4, 4000), (APPLES, 1, 1000)])
    await deliver(leaders_app, ORDER_PAID, order)
    await deliver(leaders_app, ORDER_REFUNDED, orders.refunded(order, [(0, 1), (1, 1)]))
    await deliver(leaders_app, ORDER_PICKED_UP, orders.picked_up(order, days_ago=9))
    result = await settle(leaders_client)
    assert result["settled_fen"] == 300
    final = await balance(leaders_client)
    assert (final["pending_fen"], final["available_fen"], final["reversed_fen"]) == (0, 300, 200)


async def test_events_of_an_order_before_its_payment_are_retried_not_lost(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    order = orders.paid("l1", [(MILK, 1, 1000)])
    early = event(ORDER_PICKED_UP, orders.picked_up(order, days_ago=8))
    with pytest.raises(Exception, match="no accrual yet"):
        await apply_event(leaders_app.state.db, inbox, build_handlers(leaders_app.state.settings), early)
    await deliver(leaders_app, ORDER_PAID, order)
    assert await apply_event(
        leaders_app.state.db, inbox, build_handlers(leaders_app.state.settings), early
    )  # the retry now applies
    assert (await settle(leaders_client))["settled_fen"] == 100


async def test_every_balance_after_is_the_running_sum_of_the_entries(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any, orders: Orders
) -> None:
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    for days in (1, 9, 12):
        order = orders.paid("l1", [(MILK, 2, 3000)])
        await deliver(leaders_app, ORDER_PAID, order)
        await deliver(leaders_app, ORDER_PICKED_UP, orders.picked_up(order, days_ago=days))
        await deliver(leaders_app, ORDER_REFUNDED, orders.refunded(order, [(0, 1)]))
    await settle(leaders_client)
    running = {"pending": 0, "available": 0, "in_withdrawal": 0, "withdrawn": 0}
    for entry in reversed(await entries(leaders_client)):
        for name in running:
            running[name] += entry[f"{name}_delta_fen"]
            assert entry[f"{name}_after_fen"] == running[name]
    final = await balance(leaders_client)
    assert final["pending_fen"] == running["pending"] and final["available_fen"] == running["available"]


async def test_a_leader_cannot_read_another_leaders_balance_or_entries(
    leaders_client: httpx.AsyncClient, leader: Any
) -> None:
    await make_leader(leaders_client, "l2")
    for path in ("commission/balance", "commission/entries", "commission/statements/2025-01"):
        response = await leaders_client.get(f"/api/v1/leaders/l1/{path}", headers=leader_headers("l2"))
        assert response.status_code == 403, path
        assert response.json()["code"] == "NOT_YOUR_LEADER_ACCOUNT"
        customer = await leaders_client.get(f"/api/v1/leaders/l1/{path}", headers=bearer("l1", ["customer"]))
        assert customer.status_code == 403, path  # the same sub without the leader role is not the leader
        assert (await leaders_client.get(f"/api/v1/leaders/l1/{path}", headers=leader_headers("l1"))).status_code == 200


async def test_reconciliation_is_for_services_and_bounded(leaders_client: httpx.AsyncClient) -> None:
    body = {"order_ids": [1]}
    # A person's token is not for internal routes (401); another service's identity is not enough (403).
    assert (await leaders_client.post("/internal/reconciliation/commission", json=body, headers=OPS)).status_code == 401
    points = await leaders_client.post(
        "/internal/reconciliation/commission", json=body, headers=service_bearer("points")
    )
    assert points.status_code == 403 and points.json()["code"] == "SERVICE_NOT_ALLOWED"
    too_many = {"order_ids": list(range(1, 502))}
    response = await leaders_client.post("/internal/reconciliation/commission", json=too_many, headers=SERVICE)
    assert response.status_code == 422


async def add_entry(app: FastAPI, *, kind: CommissionEntryKind, order_id: int | None, at: datetime) -> None:
    """A ledger entry as written by an event (or forged by hand): only its kind, order and time matter here."""
    async with app.state.db.transaction() as session:
        session.add(
            CommissionEntry(
                leader_id="l1",
                kind=kind,
                amount_fen=0,
                pending_delta_fen=0,
                available_delta_fen=0,
                in_withdrawal_delta_fen=0,
                withdrawn_delta_fen=0,
                pending_after_fen=0,
                available_after_fen=0,
                in_withdrawal_after_fen=0,
                withdrawn_after_fen=0,
                ref=f"test:{uuid.uuid4()}",
                order_id=order_id,
                created_at=at,
            )
        )


async def test_orders_with_commission_answers_the_orders_credited_in_the_range_page_by_page(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, leader: Any
) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    await add_entry(leaders_app, kind=CommissionEntryKind.ACCRUAL, order_id=30, at=start)
    await add_entry(leaders_app, kind=CommissionEntryKind.ACCRUAL, order_id=30, at=start + timedelta(hours=1))
    await add_entry(leaders_app, kind=CommissionEntryKind.REVERSAL, order_id=10, at=start + timedelta(days=2))
    await add_entry(leaders_app, kind=CommissionEntryKind.ACCRUAL, order_id=20, at=start + timedelta(days=3))
    await add_entry(leaders_app, kind=CommissionEntryKind.SETTLEMENT, order_id=40, at=start + timedelta(days=1))
    await add_entry(leaders_app, kind=CommissionEntryKind.WITHDRAWAL, order_id=None, at=start + timedelta(days=1))
    await add_entry(leaders_app, kind=CommissionEntryKind.ACCRUAL, order_id=50, at=start - timedelta(seconds=1))
    await add_entry(leaders_app, kind=CommissionEntryKind.ACCRUAL, order_id=60, at=start + timedelta(days=3))
    url = "/internal/reconciliation/commission/orders"
    window = {"since": start.isoformat(), "until": (start + timedelta(days=3)).isoformat()}
    # `until` is excluded, and so are settlements and withdrawals: only accruals and reversals come from orders.
    whole = await leaders_client.post(url, json=window, headers=SERVICE)
    assert whole.status_code == 200, whole.text
    assert whole.json() == {"order_ids": [10, 30], "next_after": None}
    first = (await leaders_client.post(url, json=window | {"limit": 1}, headers=SERVICE)).json()
    assert first == {"order_ids": [10], "next_after": 10}
    second = (await leaders_client.post(url, json=window | {"limit": 1, "after": 10}, headers=SERVICE)).json()
    assert second == {"order_ids": [30], "next_after": 30}
    last = (await leaders_client.post(url, json=window | {"limit": 1, "after": 30}, headers=SERVICE)).json()
    assert last == {"order_ids": [], "next_after": None}


async def test_orders_with_commission_is_for_the_orders_service_over_a_bounded_range(
    leaders_client: httpx.AsyncClient,
) -> None:
    url = "/internal/reconciliation/commission/orders"
    start = datetime(2026, 12, 1, tzinfo=UTC)
    body = {"since": start.isoformat(), "until": (start + timedelta(days=31)).isoformat()}
    assert (await leaders_client.post(url, json=body, headers=SERVICE)).status_code == 200
    # A person's token is not for internal routes (401); another service's identity is not enough (403).
    for person in (bearer("c1", ["customer"]), OPS):
        assert (await leaders_client.post(url, json=body, headers=person)).status_code == 401
    points = await leaders_client.post(url, json=body, headers=service_bearer("points"))
    assert points.status_code == 403 and points.json()["code"] == "SERVICE_NOT_ALLOWED"
    too_long = {"since": start.isoformat(), "until": (start + timedelta(days=31, seconds=1)).isoformat()}
    backwards = {"since": body["until"], "until": body["since"]}
    naive = {"since": "2026-12-01T00:00:00", "until": "2026-12-02T00:00:00"}
    for refused in (too_long, backwards, naive, body | {"limit": 5001}, body | {"after": 0}):
        response = await leaders_client.post(url, json=refused, headers=SERVICE)
        assert response.status_code == 422, (refused, response.text)
    assert "31 days" in (await leaders_client.post(url, json=too_long, headers=SERVICE)).text
