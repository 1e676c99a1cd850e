"""Levels: configuration, evaluation that promotes past a threshold and demotes below, with the figures recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from services.common.clock import utcnow
from services.common.events.contract import ORDER_PAID, ORDER_PICKED_UP, ORDER_REFUNDED
from services.common.testing import service_bearer
from services.leaders.levels.jobs import level_evaluation_job
from tests.leaders.conftest import OPS, Orders, leader_headers, make_leader
from tests.leaders.test_commission import deliver, entries, rule

SILVER = {"name": "Silver", "rank": 1, "min_sales_fen": 100_000, "min_completed_orders": 2, "rate_bp": 1200}
GOLD = {"name": "Gold", "rank": 2, "min_sales_fen": 500_000, "min_completed_orders": 5, "rate_bp": 1500}


async def configure_levels(client: httpx.AsyncClient) -> None:
    for code, body in (("silver", SILVER), ("gold", GOLD)):
        response = await client.put(f"/api/v1/commission/levels/{code}", json=body, headers=OPS)
        assert response.status_code == 200, response.text


async def sell(app: FastAPI, orders: Orders, leader_id: str, count: int, paid_fen: int, *, days_ago: float = 1) -> None:
    for _ in range(count):
        order = orders.paid(leader_id, [(1, 1, paid_fen)], paid_at=utcnow() - timedelta(days=days_ago))
        await deliver(app, ORDER_PAID, order)
        await deliver(app, ORDER_PICKED_UP, orders.picked_up(order, days_ago=days_ago))


async def evaluate(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/api/v1/commission/level-evaluations", headers=OPS)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_evaluation_promotes_past_a_threshold_and_demotes_below_with_the_figures(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    await configure_levels(leaders_client)
    await make_leader(leaders_client, "rising")
    await make_leader(leaders_client, "falling", level="gold")
    await make_leader(leaders_client, "steady", level="silver")
    await sell(leaders_app, orders, "rising", 5, 100_000)  # 5,000 yuan, 5 orders: gold
    await sell(leaders_app, orders, "falling", 1, 50_000)  # below silver
    await sell(leaders_app, orders, "steady", 2, 60_000)  # silver again
    await sell(leaders_app, orders, "falling", 10, 100_000, days_ago=40)  # outside the 30-day window

    result = await evaluate(leaders_client)
    moves = {c["leader_id"]: (c["from_level"], c["to_level"], c["direction"]) for c in result["changes"]}
    assert moves == {"rising": (None, "gold", "promoted"), "falling": ("gold", None, "demoted")}
    assert (result["promoted"], result["demoted"], result["evaluated"]) == (1, 1, 3)

    profile = (await leaders_client.get("/api/v1/leaders/rising", headers=OPS)).json()
    assert profile["level"] == "gold"
    changes = (
        await leaders_client.get("/api/v1/leaders/rising/level-changes", headers=leader_headers("rising"))
    ).json()
    assert changes["items"][0]["sales_fen"] == 500_000 and changes["items"][0]["completed_orders"] == 5
    falling = (await leaders_client.get("/api/v1/leaders/falling/level-changes", headers=OPS)).json()["items"][0]
    assert falling["sales_fen"] == 50_000 and falling["completed_orders"] == 1

    assert (await evaluate(leaders_client))["changes"] == []  # a second run moves nobody


async def test_refunds_count_against_sales(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    await configure_levels(leaders_client)
    await make_leader(leaders_client, "l1")
    order = orders.paid("l1", [(1, 2, 100_000)])
    await deliver(leaders_app, ORDER_PAID, order)
    await deliver(leaders_app, ORDER_PICKED_UP, orders.picked_up(order))
    await sell(leaders_app, orders, "l1", 1, 10_000)
    await deliver(leaders_app, ORDER_REFUNDED, orders.refunded(order, [(0, 1)]))
    # 110,000 paid - 50,000 refunded = 60,000 < silver's 100,000
    assert (await evaluate(leaders_client))["changes"] == []


async def test_a_refund_counts_in_the_window_it_was_made_whenever_the_order_was_paid(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    """Net sales of the window = paid in it − refunded in it (docs/metrics.md): an order paid before the window and
    refunded inside it lowers the window's sales, so it can cost a promotion."""
    await configure_levels(leaders_client)
    await make_leader(leaders_client, "l1")
    await make_leader(leaders_client, "l2")
    for leader_id in ("l1", "l2"):
        await sell(leaders_app, orders, leader_id, 2, 60_000)  # 120,000 and 2 orders: silver on their own
    old = orders.paid("l1", [(1, 2, 100_000)], paid_at=utcnow() - timedelta(days=40))
    await deliver(leaders_app, ORDER_PAID, old)
    await deliver(leaders_app, ORDER_REFUNDED, orders.refunded(old, [(0, 1)]))  # 50,000 back, today

    result = await evaluate(leaders_client)
    moves = {c["leader_id"]: (c["to_level"], c["sales_fen"]) for c in result["changes"]}
    # l1: 120,000 paid - 50,000 refunded in the window = 70,000 < 100,000; l2 has no refund.
    assert moves == {"l2": ("silver", 120_000)}
    summary = await leaders_client.get("/internal/leaders/l1/summary", headers=service_bearer("analytics"))
    assert summary.json()["window_sales_fen"] == 70_000  # what the dashboard shows is what evaluation used


async def test_the_level_rate_is_the_level_rule_and_a_promotion_raises_the_rate_of_later_orders(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    await configure_levels(leaders_client)
    await rule(leaders_client, scope="default", mode="percentage", rate_bp=1000)
    await make_leader(leaders_client, "l1")
    await sell(leaders_app, orders, "l1", 2, 60_000)
    await level_evaluation_job(leaders_app)  # the periodic job's work
    assert (await leaders_client.get("/api/v1/leaders/l1", headers=OPS)).json()["level"] == "silver"
    await deliver(leaders_app, ORDER_PAID, orders.paid("l1", [(1, 1, 10_000)]))
    latest = (await entries(leaders_client))[0]
    assert latest["kind"] == "accrual" and latest["amount_fen"] == 1200
    listed = (await leaders_client.get("/api/v1/commission/rules", headers=OPS)).json()["items"]
    assert {(r["scope"], r["level"], r["rate_bp"]) for r in listed} >= {
        ("level", "silver", 1200),
        ("level", "gold", 1500),
    }


async def test_two_levels_cannot_share_a_rank(leaders_client: httpx.AsyncClient) -> None:
    await configure_levels(leaders_client)
    clash = await leaders_client.put("/api/v1/commission/levels/bronze", json={**SILVER, "name": "Bronze"}, headers=OPS)
    assert clash.status_code == 409 and clash.json()["code"] == "LEVEL_RANK_TAKEN"
    listed = (await leaders_client.get("/api/v1/commission/levels", headers=OPS)).json()
    assert [level["code"] for level in listed] == ["silver", "gold"]


async def test_ops_set_a_level_by_hand_and_an_unknown_level_is_refused(
    leaders_client: httpx.AsyncClient,
) -> None:
    await configure_levels(leaders_client)
    await make_leader(leaders_client, "l1")
    unknown = await leaders_client.patch("/api/v1/leaders/l1", json={"level": "platinum"}, headers=OPS)
    assert unknown.status_code == 404 and unknown.json()["code"] == "LEVEL_NOT_FOUND"
    set_ = await leaders_client.patch("/api/v1/leaders/l1", json={"level": "gold", "reason": "launch"}, headers=OPS)
    assert set_.status_code == 200 and set_.json()["level"] == "gold"
    change = (await leaders_client.get("/api/v1/leaders/l1/level-changes", headers=OPS)).json()["items"][0]
    assert (change["to_level"], change["direction"], change["changed_by"]) == ("gold", "set", "ops1")
    other = await leaders_client.get("/api/v1/leaders/l1/level-changes", headers=leader_headers("l2"))
    assert other.status_code == 403
