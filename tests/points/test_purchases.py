"""Purchase points at pickup, reversed proportionally by refunds after pickup; reconciliation counts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from services.points.purchases.exceptions import PurchaseNotCredited
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
