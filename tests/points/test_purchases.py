"""Purchase points at pickup, reversed proportionally by refunds after pickup; reconciliation counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from services.common.testing import service_bearer
from services.points.purchases.exceptions import PurchaseNotCredited
from services.points.purchases.models import PurchaseAward, RefundApplied
from tests.points.conftest import NO_NEWCOMER_RULES, SERVICE, assert_ledger_consistent, customer, set_rules
from tests.points.events import deliver, paid, picked_up, refunded


async def balance(client: Any, user: str = "u1") -> int:
    value: int = (await client.get("/api/v1/points/me", headers=customer(user))).json()["balance"]
    return value


@pytest.fixture
async def rules(client: Any) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES, purchase_points_per_yuan=2, invite_reward_points=0, task_tiers=[])


@pytest.mark.usefixtures("rules")
async def test_purchase_points_are_earned_on_what_was_paid_minus_refunds_before_pickup(
    client: Any, points_app: FastAPI
) -> None:
    evt = picked_up(1, paid_fen=12_345, refunded_fen=2_000)  # 103.45 yuan kept
    assert await deliver(points_app, evt)
    assert not await deliver(points_app, evt)
    assert await balance(client) == 206  # 2 points per yuan, rounded down
    entry = (await client.get("/api/v1/points/me/entries", headers=customer("u1"))).json()["items"][0]
    assert (entry["kind"], entry["ref"]) == ("purchase", "order:1")
    assert entry["details"]["base_fen"] == 10_345 and entry["details"]["points_per_yuan"] == 2


@pytest.mark.usefixtures("rules")
async def test_refunds_after_pickup_reverse_purchase_points_proportionally_and_exactly_in_total(
    client: Any, points_app: FastAPI
) -> None:
    await deliver(points_app, picked_up(1, paid_fen=10_000))  # 200 points
    await deliver(points_app, refunded(1, refund_id=1, points_returned=0, refund_fen=3_333, picked_up=True))
    assert await balance(client) == 200 - 66  # floor(200 * 3333 / 10000)
    await deliver(points_app, refunded(1, refund_id=2, points_returned=0, refund_fen=3_333, picked_up=True))
    assert await balance(client) == 200 - 133  # floor(200 * 6666 / 10000)
    again = refunded(1, refund_id=2, points_returned=0, refund_fen=3_333, picked_up=True)
    await deliver(points_app, again)  # the same refund in another event: nothing more
    assert await balance(client) == 200 - 133
    await deliver(points_app, refunded(1, refund_id=3, points_returned=0, refund_fen=3_334, picked_up=True))
    assert await balance(client) == 0  # the full refund takes back exactly what was credited
    await assert_ledger_consistent(points_app, "u1")


@pytest.mark.usefixtures("rules")
async def test_reversal_of_already_spent_points_leaves_them_owed(client: Any, points_app: FastAPI) -> None:
    await deliver(points_app, picked_up(1, paid_fen=10_000))  # 200 points
    hold = {"order_id": 2, "user_id": "u1", "points": 200, "goods_fen": 10_000}
    assert (await client.post("/internal/points/holds", json=hold, headers=SERVICE)).status_code == 200
    await deliver(points_app, paid(2, 200))
    await deliver(points_app, refunded(1, refund_id=1, points_returned=0, refund_fen=10_000, picked_up=True))
    me = (await client.get("/api/v1/points/me", headers=customer("u1"))).json()
    assert (me["balance"], me["owed"]) == (-200, 200)
    await deliver(points_app, picked_up(3, paid_fen=15_000))  # 300 new points pay the debt first
    assert await balance(client) == 100
    await assert_ledger_consistent(points_app, "u1")


@pytest.mark.usefixtures("rules")
async def test_refund_after_pickup_before_the_pickup_was_applied_is_retried_not_lost(
    client: Any, points_app: FastAPI
) -> None:
    evt = refunded(1, refund_id=1, points_returned=0, refund_fen=1_000, picked_up=True)
    with pytest.raises(PurchaseNotCredited):
        await deliver(points_app, evt)
    await deliver(points_app, picked_up(1, paid_fen=10_000))
    assert await deliver(points_app, evt)  # the retry of the very same event now applies
    assert await balance(client) == 180


@pytest.mark.usefixtures("rules")
async def test_reconciliation_reports_credits_reversals_and_holds(client: Any, points_app: FastAPI) -> None:
    await deliver(points_app, picked_up(1, paid_fen=10_000))
    await deliver(points_app, refunded(1, refund_id=5, points_returned=0, refund_fen=1_000, picked_up=True))
    await deliver(points_app, picked_up(2, paid_fen=10_000))
    hold = {"order_id": 3, "user_id": "u1", "points": 100, "goods_fen": 10_000}
    await client.post("/internal/points/holds", json=hold, headers=SERVICE)
    response = await client.post("/internal/reconciliation/points", json={"order_ids": [1, 2, 3, 4]}, headers=SERVICE)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "orders": {
            "1": {"purchase_credits": 1, "purchase_reversals": {"5": 1}, "hold": None},
            "2": {"purchase_credits": 1, "purchase_reversals": {}, "hold": None},
            "3": {"purchase_credits": 0, "purchase_reversals": {}, "hold": "held"},
            "4": {"purchase_credits": 0, "purchase_reversals": {}, "hold": None},
        }
    }
    too_many = await client.post(
        "/internal/reconciliation/points", json={"order_ids": list(range(1, 502))}, headers=SERVICE
    )
    assert too_many.status_code == 422
    forbidden = await client.post("/internal/reconciliation/points", json={"order_ids": [1]}, headers=customer("u1"))
    assert forbidden.status_code == 401


async def record(
    app: FastAPI, *, award: int | None = None, refund: tuple[int, int] | None = None, at: datetime
) -> None:
    """A purchase award for order `award`, or the refund `(refund_id, order_id)`, recorded at `at`."""
    async with app.state.db.transaction() as session:
        if award is not None:
            session.add(
                PurchaseAward(
                    order_id=award,
                    user_id="u1",
                    base_fen=100,
                    points=1,
                    points_per_yuan=1,
                    rules_version=1,
                    picked_up_at=at,
                    created_at=at,
                )
            )
        if refund is not None:
            session.add(
                RefundApplied(
                    refund_id=refund[0],
                    order_id=refund[1],
                    user_id="u1",
                    refund_fen=100,
                    points_returned=0,
                    picked_up=True,
                    created_at=at,
                )
            )


async def test_orders_with_points_answers_awards_and_refunds_in_the_range_page_by_page(
    client: Any, points_app: FastAPI
) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    await record(points_app, award=30, at=start)
    await record(points_app, refund=(1, 30), at=start + timedelta(hours=1))  # the same order once
    await record(points_app, refund=(2, 10), at=start + timedelta(days=2))  # a refund whose order has no award
    await record(points_app, award=20, at=start + timedelta(days=3))  # `until` is excluded
    await record(points_app, award=50, at=start - timedelta(seconds=1))
    url = "/internal/reconciliation/points/orders"
    window = {"since": start.isoformat(), "until": (start + timedelta(days=3)).isoformat()}
    whole = await client.post(url, json=window, headers=SERVICE)
    assert whole.status_code == 200, whole.text
    assert whole.json() == {"order_ids": [10, 30], "next_after": None}
    first = (await client.post(url, json=window | {"limit": 1}, headers=SERVICE)).json()
    assert first == {"order_ids": [10], "next_after": 10}
    second = (await client.post(url, json=window | {"limit": 1, "after": 10}, headers=SERVICE)).json()
    assert second == {"order_ids": [30], "next_after": 30}
    last = (await client.post(url, json=window | {"limit": 1, "after": 30}, headers=SERVICE)).json()
    assert last == {"order_ids": [], "next_after": None}


async def test_orders_with_points_is_for_the_orders_service_over_a_bounded_range(client: Any) -> None:
    url = "/internal/reconciliation/points/orders"
    start = datetime(2026, 12, 1, tzinfo=UTC)
    body = {"since": start.isoformat(), "until": (start + timedelta(days=31)).isoformat()}
    assert (await client.post(url, json=body, headers=SERVICE)).status_code == 200
    # A person's token is not for internal routes (401); another service's identity is not enough (403).
    assert (await client.post(url, json=body, headers=customer("u1"))).status_code == 401
    leaders = await client.post(url, json=body, headers=service_bearer("leaders"))
    assert leaders.status_code == 403 and leaders.json()["code"] == "SERVICE_NOT_ALLOWED"
    too_long = {"since": start.isoformat(), "until": (start + timedelta(days=31, seconds=1)).isoformat()}
    backwards = {"since": body["until"], "until": body["since"]}
    naive = {"since": "2026-12-01T00:00:00", "until": "2026-12-02T00:00:00"}
    for refused in (too_long, backwards, naive, body | {"limit": 5001}, body | {"after": 0}):
        response = await client.post(url, json=refused, headers=SERVICE)
        assert response.status_code == 422, (refused, response.text)
    assert "31 days" in (await client.post(url, json=too_long, headers=SERVICE)).text
