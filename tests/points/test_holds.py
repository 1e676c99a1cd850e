"""Points held for orders: placed by the orders service, committed on payment, released on cancel or expiry,
given back for refunds; the discount comes from the deduction rule in force."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from services.common.testing import service_bearer
from services.points.holds.exceptions import PointsReturnExceedsSpent
from services.points.holds.jobs import expired_holds_job
from tests.points.conftest import (
    NO_NEWCOMER_RULES,
    SERVICE,
    Clock,
    assert_ledger_consistent,
    customer,
    grant,
    set_rules,
)
from tests.points.events import cancelled, deliver, paid, refunded

HOLDS = "/internal/points/holds"


def hold_body(order_id: int = 1, points: int = 500, goods_fen: int = 10_000, user_id: str = "u1") -> dict[str, Any]:
    return {"order_id": order_id, "user_id": user_id, "points": points, "goods_fen": goods_fen}


async def me(client: Any, user: str = "u1") -> dict[str, Any]:
    result: dict[str, Any] = (await client.get("/api/v1/points/me", headers=customer(user))).json()
    return result


@pytest.fixture
async def funded(client: Any) -> Any:
    await set_rules(client, **NO_NEWCOMER_RULES)
    await grant(client, "u1", 1000)
    return client


async def test_hold_moves_points_from_balance_to_held_with_the_discount_from_the_rules(funded: Any) -> None:
    response = await funded.post(HOLDS, json=hold_body(points=500), headers=SERVICE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("order_id", "user_id", "points", "discount_fen", "status")} == {
        "order_id": 1,
        "user_id": "u1",
        "points": 500,
        "discount_fen": 500,  # 100 points = 1 yuan = 100 fen
        "status": "held",
    }
    assert (await me(funded))[("balance")] == 500
    assert (await me(funded))["held"] == 500


async def test_same_hold_again_returns_the_same_hold_and_takes_nothing_more(funded: Any, points_app: FastAPI) -> None:
    first = await funded.post(HOLDS, json=hold_body(), headers=SERVICE)
    second = await funded.post(HOLDS, json=hold_body(), headers=SERVICE)
    assert second.status_code == 200
    assert second.json() == first.json()
    assert (await me(funded))["balance"] == 500
    await assert_ledger_consistent(points_app, "u1")


async def test_same_order_with_another_body_is_hold_conflict(funded: Any) -> None:
    await funded.post(HOLDS, json=hold_body(points=500), headers=SERVICE)
    response = await funded.post(HOLDS, json=hold_body(points=400), headers=SERVICE)
    assert response.status_code == 409
    assert response.json()["code"] == "HOLD_CONFLICT"


async def test_not_enough_points_is_409_and_nothing_is_held(funded: Any) -> None:
    response = await funded.post(HOLDS, json=hold_body(points=1100, goods_fen=100_000), headers=SERVICE)
    assert response.status_code == 409
    assert response.json()["code"] == "INSUFFICIENT_POINTS"
    account = await me(funded)
    assert (account["balance"], account["held"]) == (1000, 0)
    # The failed hold left no row behind: the same order can hold a smaller amount now.
    retry = await funded.post(HOLDS, json=hold_body(points=100, goods_fen=100_000), headers=SERVICE)
    assert retry.status_code == 200


async def test_points_beyond_the_cap_or_not_whole_fen_are_422(funded: Any) -> None:
    over = await funded.post(HOLDS, json=hold_body(points=600, goods_fen=1000), headers=SERVICE)
    assert over.status_code == 422
    assert over.json()["code"] == "POINTS_OVER_CAP"
    assert over.json()["max_discount_fen"] == 500
    await set_rules(funded, deduction_points_per_yuan=300)
    odd = await funded.post(HOLDS, json=hold_body(order_id=2, points=100, goods_fen=10_000), headers=SERVICE)
    assert odd.status_code == 422
    assert odd.json()["code"] == "POINTS_NOT_USABLE"
    ok = await funded.post(HOLDS, json=hold_body(order_id=3, points=300, goods_fen=10_000), headers=SERVICE)
    assert ok.json()["discount_fen"] == 100


@pytest.mark.parametrize("points", [0, -5, "100", 1.5, True])
async def test_hold_points_must_be_a_positive_integer(funded: Any, points: Any) -> None:
    response = await funded.post(HOLDS, json=hold_body(points=points), headers=SERVICE)
    assert response.status_code == 422


async def test_holds_need_the_service_role(funded: Any) -> None:
    response = await funded.post(HOLDS, json=hold_body(), headers=customer("u1"))
    assert response.status_code == 401 and response.json()["code"] == "INVALID_TOKEN"
    leaders = await funded.post(HOLDS, json=hold_body(), headers=service_bearer("leaders"))
    assert leaders.status_code == 403 and leaders.json()["code"] == "SERVICE_NOT_ALLOWED"
    rule = await funded.get("/internal/points/rules/deduction", headers=SERVICE)
    assert rule.json() == {"points_per_yuan": 100, "max_ratio_bp": 5000}


async def test_release_returns_the_points_once(funded: Any, points_app: FastAPI) -> None:
    await funded.post(HOLDS, json=hold_body(), headers=SERVICE)
    first = await funded.post(f"{HOLDS}/1/release", headers=SERVICE)
    second = await funded.post(f"{HOLDS}/1/release", headers=SERVICE)
    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "released"
    account = await me(funded)
    assert (account["balance"], account["held"]) == (1000, 0)
    await assert_ledger_consistent(points_app, "u1")
    unknown = await funded.post(f"{HOLDS}/99/release", headers=SERVICE)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "HOLD_NOT_FOUND"


async def test_order_paid_spends_the_held_points_once(funded: Any, points_app: FastAPI) -> None:
    await funded.post(HOLDS, json=hold_body(points=500), headers=SERVICE)
    evt = paid(1, 500)
    assert await deliver(points_app, evt)
    assert not await deliver(points_app, evt)  # the same event again
    assert await deliver(points_app, paid(1, 500))  # another event for the same payment
    account = await me(funded)
    assert (account["balance"], account["held"]) == (500, 0)
    assert (await funded.get(f"{HOLDS}/1", headers=SERVICE)).json()["status"] == "committed"
    # A paid order cannot be released any more.
    release = await funded.post(f"{HOLDS}/1/release", headers=SERVICE)
    assert release.status_code == 409
    assert release.json()["code"] == "HOLD_ALREADY_COMMITTED"
    await assert_ledger_consistent(points_app, "u1")


async def test_order_paid_without_points_needs_no_hold(funded: Any, points_app: FastAPI) -> None:
    assert await deliver(points_app, paid(7, 0))
    assert (await me(funded))["balance"] == 1000


async def test_order_cancelled_releases_the_hold_and_a_duplicate_changes_nothing(
    funded: Any, points_app: FastAPI
) -> None:
    await funded.post(HOLDS, json=hold_body(points=300), headers=SERVICE)
    evt = cancelled(1, 300)
    assert await deliver(points_app, evt)
    assert not await deliver(points_app, evt)
    assert await deliver(points_app, cancelled(1, 300))
    account = await me(funded)
    assert (account["balance"], account["held"]) == (1000, 0)
    await assert_ledger_consistent(points_app, "u1")


async def test_refund_gives_back_spent_points_per_refund_once(funded: Any, points_app: FastAPI) -> None:
    await funded.post(HOLDS, json=hold_body(points=500), headers=SERVICE)
    await deliver(points_app, paid(1, 500))
    first = refunded(1, refund_id=11, points_returned=200, refund_fen=4000)
    assert await deliver(points_app, first)
    assert not await deliver(points_app, first)
    assert await deliver(points_app, refunded(1, refund_id=11, points_returned=200, refund_fen=4000))
    assert (await me(funded))["balance"] == 700
    await deliver(points_app, refunded(1, refund_id=12, points_returned=300, refund_fen=5500))
    assert (await me(funded))["balance"] == 1000
    await assert_ledger_consistent(points_app, "u1")


async def test_refund_of_more_points_than_spent_is_refused_and_not_applied(funded: Any, points_app: FastAPI) -> None:
    await funded.post(HOLDS, json=hold_body(points=500), headers=SERVICE)
    await deliver(points_app, paid(1, 500))
    with pytest.raises(PointsReturnExceedsSpent):
        await deliver(points_app, refunded(1, refund_id=11, points_returned=501, refund_fen=1))
    assert (await me(funded))["balance"] == 500


async def test_unpaid_hold_expires_after_the_ttl(funded: Any, points_app: FastAPI, clock: Clock) -> None:
    await funded.post(HOLDS, json=hold_body(points=400), headers=SERVICE)
    clock.advance(seconds=3599)
    assert await expired_holds_job(points_app) == 0
    clock.advance(seconds=2)
    assert await expired_holds_job(points_app) == 1
    assert await expired_holds_job(points_app) == 0
    account = await me(funded)
    assert (account["balance"], account["held"]) == (1000, 0)


async def test_payment_after_the_hold_expired_still_takes_the_points(
    funded: Any, points_app: FastAPI, clock: Clock
) -> None:
    await funded.post(HOLDS, json=hold_body(points=400), headers=SERVICE)
    clock.advance(hours=2)
    await expired_holds_job(points_app)
    await grant(funded, "u1", -900, "spent elsewhere")
    await deliver(points_app, paid(1, 400))
    account = await me(funded)
    # The customer got the 400-point discount: the points are taken even though only 100 are left.
    assert (account["balance"], account["held"], account["owed"]) == (-300, 0, 300)
    await assert_ledger_consistent(points_app, "u1")
