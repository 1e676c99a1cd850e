"""Accounts, entries, lots and their expiry, ops adjustments and who may read what."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from services.points.ledger.jobs import expiry_job
from tests.points.conftest import (
    NO_NEWCOMER_RULES,
    OPS,
    SERVICE,
    Clock,
    assert_ledger_consistent,
    customer,
    grant,
    lots,
    set_rules,
)

U1 = customer("u1")


async def me(client: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await client.get("/api/v1/points/me", headers=U1)).json()
    return result


async def hold(client: Any, order_id: int, points: int) -> Any:
    body = {"order_id": order_id, "user_id": "u1", "points": points, "goods_fen": 1_000_000}
    return await client.post("/internal/points/holds", json=body, headers=SERVICE)


async def test_points_expire_at_the_end_of_the_month_a_year_later(
    client: Any, points_app: FastAPI, clock: Clock
) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES)
    await grant(client, "u1", 100)  # earned 2025-03-10
    assert [lot.expires_on.isoformat() for lot in await lots(points_app, "u1")] == ["2026-03-31"]
    clock.set(datetime(2026, 3, 31, 15, 59, tzinfo=UTC))  # 23:59 on the last day, Shanghai
    assert await expiry_job(points_app) == 0
    assert (await me(client))["expiring"] == [{"points": 100, "expires_on": "2026-03-31"}]
    clock.set(datetime(2026, 3, 31, 16, 0, tzinfo=UTC))  # 00:00 on April 1st, Shanghai
    assert await expiry_job(points_app) == 100
    assert await expiry_job(points_app) == 0
    account = await me(client)
    assert (account["balance"], account["expiring"], account["lifetime_earned"]) == (0, [], 100)
    kinds = [e["kind"] for e in (await client.get("/api/v1/points/me/entries", headers=U1)).json()["items"]]
    assert kinds == ["expire", "adjustment"]
    await assert_ledger_consistent(points_app, "u1")


async def test_spending_takes_the_oldest_lots_first_and_only_the_rest_expires(
    client: Any, points_app: FastAPI, clock: Clock
) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES)
    await grant(client, "u1", 100)  # expires 2026-03-31
    clock.set(datetime(2025, 4, 2, 4, tzinfo=UTC))
    await grant(client, "u1", 100)  # expires 2026-04-30
    assert (await hold(client, 1, 150)).status_code == 200
    assert [lot.remaining for lot in await lots(points_app, "u1")] == [0, 50]
    clock.set(datetime(2026, 4, 1, 4, tzinfo=UTC))
    assert await expiry_job(points_app) == 0  # the first lot was fully spent
    clock.set(datetime(2026, 5, 1, 4, tzinfo=UTC))
    assert await expiry_job(points_app) == 50
    account = await me(client)
    assert (account["balance"], account["held"]) == (0, 150)
    await assert_ledger_consistent(points_app, "u1")


async def test_released_points_go_back_to_their_lots_and_keep_their_expiry(
    client: Any, points_app: FastAPI, clock: Clock
) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES)
    await grant(client, "u1", 100)
    clock.set(datetime(2025, 4, 2, 4, tzinfo=UTC))
    await grant(client, "u1", 100)
    await hold(client, 1, 150)
    await client.post("/internal/points/holds/1/release", headers=SERVICE)
    assert [lot.remaining for lot in await lots(points_app, "u1")] == [100, 100]
    clock.set(datetime(2026, 4, 1, 4, tzinfo=UTC))
    # Reading the account expires what is due, so the balance shown is never spendable-but-expired.
    assert (await me(client))["balance"] == 100
    await assert_ledger_consistent(points_app, "u1")


async def test_expired_points_cannot_be_held_even_before_the_job_runs(client: Any, clock: Clock) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES)
    await grant(client, "u1", 100)
    clock.set(datetime(2026, 4, 1, 4, tzinfo=UTC))
    response = await hold(client, 1, 100)
    assert response.status_code == 409
    assert response.json()["code"] == "INSUFFICIENT_POINTS"


async def test_negative_adjustment_needs_allow_negative_and_owed_points_are_paid_off_first(
    client: Any, points_app: FastAPI
) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES)
    await grant(client, "u1", 100)
    body = {"user_id": "u1", "points": -150, "reason": "duplicate grant"}
    refused = await client.post("/api/v1/points/adjustments", json=body, headers=OPS)
    assert refused.status_code == 409
    assert refused.json()["code"] == "INSUFFICIENT_POINTS"
    taken = await client.post("/api/v1/points/adjustments", json=body | {"allow_negative": True}, headers=OPS)
    assert taken.status_code == 201
    assert (taken.json()["actor"], taken.json()["reason"], taken.json()["balance_after"]) == (
        "ops1",
        "duplicate grant",
        -50,
    )
    assert (await me(client))["owed"] == 50
    await grant(client, "u1", 80)
    account = await me(client)
    assert (account["balance"], account["owed"]) == (30, 0)
    # Only the 30 points not used to pay off the debt can be spent.
    assert sum(lot.remaining for lot in await lots(points_app, "u1")) == 30
    await assert_ledger_consistent(points_app, "u1")


@pytest.mark.parametrize("points", [0, "10", 1.5])
async def test_adjustment_must_change_the_balance_by_an_integer(client: Any, points: Any) -> None:
    body = {"user_id": "u1", "points": points, "reason": "x"}
    assert (await client.post("/api/v1/points/adjustments", json=body, headers=OPS)).status_code == 422


async def test_adjustment_needs_a_reason_and_the_ops_role(client: Any) -> None:
    body = {"user_id": "u1", "points": 10, "reason": "  "}
    assert (await client.post("/api/v1/points/adjustments", json=body, headers=OPS)).status_code == 422
    body["reason"] = "gift"
    assert (await client.post("/api/v1/points/adjustments", json=body, headers=U1)).status_code == 403


async def test_adjustment_with_an_idempotency_key_is_applied_once(client: Any) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES)
    headers = OPS | {"Idempotency-Key": "adj-1"}
    body = {"user_id": "u1", "points": 10, "reason": "gift"}
    first = await client.post("/api/v1/points/adjustments", json=body, headers=headers)
    second = await client.post("/api/v1/points/adjustments", json=body, headers=headers)
    assert second.json() == first.json()
    assert (await me(client))["balance"] == 10


async def test_a_customer_reads_only_their_own_account(client: Any) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES)
    await grant(client, "u2", 70)
    other = await client.get("/api/v1/points/users/u2", headers=U1)
    assert other.status_code == 403
    assert (await client.get("/api/v1/points/users/u2/entries", headers=U1)).status_code == 403
    assert (await me(client))["balance"] == 0  # /me is always the caller's own
    by_ops = await client.get("/api/v1/points/users/u2", headers=OPS)
    assert by_ops.status_code == 200
    assert by_ops.json()["balance"] == 70
    entries = (await client.get("/api/v1/points/users/u2/entries", headers=OPS)).json()["items"]
    assert [(e["kind"], e["actor"]) for e in entries] == [("adjustment", "ops1")]
    assert (await client.get("/api/v1/points/users/nobody", headers=OPS)).status_code == 404
    assert (await client.get("/api/v1/points/me")).status_code == 401


async def test_entries_page_newest_first(client: Any) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES)
    for points in (1, 2, 3, 4, 5):
        await grant(client, "u1", points)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/points/me/entries", params=params, headers=U1)).json()
        seen += [e["points"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]


async def test_rules_changes_are_versioned_and_validated(client: Any) -> None:
    initial = (await client.get("/api/v1/points/rules", headers=OPS)).json()
    assert initial["version"] == 0
    changed = await set_rules(client, signin_schedule=[1, 2])
    assert changed["version"] == 1 and changed["created_by"] == "ops1"
    assert (await set_rules(client, newcomer_points=5))["version"] == 2
    body = {k: v for k, v in changed.items() if k not in {"version", "created_by", "created_at"}}
    bad_tiers = body | {"task_tiers": [{"invitees": 3, "points": 1}, {"invitees": 1, "points": 1}]}
    assert (await client.put("/api/v1/points/rules", json=bad_tiers, headers=OPS)).status_code == 422
    assert (
        await client.put("/api/v1/points/rules", json=body | {"signin_schedule": []}, headers=OPS)
    ).status_code == 422
    assert (await client.put("/api/v1/points/rules", json=body, headers=U1)).status_code == 403
    assert (await client.get("/api/v1/points/rules", headers=U1)).status_code == 403


async def test_an_entry_keeps_the_rule_it_was_granted_under(client: Any, clock: Clock) -> None:
    await set_rules(client, newcomer_points=0, signin_schedule=[7])
    await client.post("/api/v1/points/sign-ins", headers=U1)
    await set_rules(client, signin_schedule=[1])
    clock.advance(days=1)
    await client.post("/api/v1/points/sign-ins", headers=U1)
    items = (await client.get("/api/v1/points/me/entries", headers=U1)).json()["items"]
    assert [(e["points"], e["details"]["rules_version"]) for e in items] == [(1, 2), (7, 1)]


async def test_an_unknown_query_parameter_is_refused_not_ignored(client: Any) -> None:
    # Without the rule this answered the caller's own account, as if `user_id` had been honoured.
    response = await client.get("/api/v1/points/me?user_id=u2", headers=U1)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"loc": ["query", "user_id"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
