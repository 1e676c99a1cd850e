"""Races that only a real database with parallel connections can show (PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from fastapi import FastAPI

from tests.points.conftest import (
    NO_NEWCOMER_RULES,
    SERVICE,
    assert_ledger_consistent,
    customer,
    entries,
    grant,
    set_rules,
)
from tests.points.events import deliver, picked_up

pytestmark = pytest.mark.postgres


async def test_six_parallel_sign_ins_give_exactly_one_award(client: Any, points_app: FastAPI) -> None:
    await set_rules(client, newcomer_points=100, signin_schedule=[5])
    responses = await asyncio.gather(
        *(client.post("/api/v1/points/sign-ins", headers=customer("u1")) for _ in range(6))
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 5}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"ALREADY_SIGNED_IN"}
    kinds = Counter(e.kind for e in await entries(points_app, "u1"))
    assert kinds == {"signin": 1, "newcomer": 1}
    me = (await client.get("/api/v1/points/me", headers=customer("u1"))).json()
    assert me["balance"] == 105
    await assert_ledger_consistent(points_app, "u1")


async def test_fifty_parallel_spends_never_take_the_balance_below_zero(client: Any, points_app: FastAPI) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES)
    await grant(client, "u1", 400)
    await grant(client, "u1", 600)  # two lots, so spends also race over lot consumption

    async def spend(order_id: int) -> Any:
        body = {"order_id": order_id, "user_id": "u1", "points": 30, "goods_fen": 100_000}
        return await client.post("/internal/points/holds", json=body, headers=SERVICE)

    responses = await asyncio.gather(*(spend(order_id) for order_id in range(1, 51)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 33, 409: 17}  # 33 x 30 = 990 of 1000
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"INSUFFICIENT_POINTS"}
    me = (await client.get("/api/v1/points/me", headers=customer("u1"))).json()
    assert (me["balance"], me["held"]) == (10, 990)
    assert all(e.balance_after >= 0 for e in await entries(points_app, "u1"))
    await assert_ledger_consistent(points_app, "u1")


async def test_parallel_identical_holds_for_one_order_hold_once(client: Any, points_app: FastAPI) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES)
    await grant(client, "u1", 1000)
    body = {"order_id": 7, "user_id": "u1", "points": 100, "goods_fen": 100_000}
    responses = await asyncio.gather(
        *(client.post("/internal/points/holds", json=body, headers=SERVICE) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {200}
    me = (await client.get("/api/v1/points/me", headers=customer("u1"))).json()
    assert (me["balance"], me["held"]) == (900, 100)
    await assert_ledger_consistent(points_app, "u1")


async def test_two_users_binding_to_each_other_at_once_make_no_cycle(client: Any) -> None:
    codes = {}
    for user in ("a", "b"):
        codes[user] = (await client.get("/api/v1/referrals/me", headers=customer(user))).json()["code"]
    responses = await asyncio.gather(
        client.post("/api/v1/referrals/bind", json={"code": codes["b"]}, headers=customer("a")),
        client.post("/api/v1/referrals/bind", json={"code": codes["a"]}, headers=customer("b")),
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert [r.json()["code"] for r in responses if r.status_code == 409] == ["REFERRAL_CYCLE"]


async def test_invitees_qualifying_in_parallel_reach_their_tier_together(client: Any, points_app: FastAPI) -> None:
    await set_rules(
        client,
        **NO_NEWCOMER_RULES,
        invite_reward_points=0,  # no reward credit, whose account lock would serialise them by accident
        task_tiers=[{"invitees": 3, "points": 300}],
        purchase_points_per_yuan=0,
    )
    code = (await client.get("/api/v1/referrals/me", headers=customer("alice"))).json()["code"]
    for invitee in ("b1", "b2", "b3"):
        await client.post("/api/v1/referrals/bind", json={"code": code}, headers=customer(invitee))
    await asyncio.gather(*(deliver(points_app, picked_up(n, customer_id=f"b{n}")) for n in (1, 2, 3)))
    me = (await client.get("/api/v1/points/me", headers=customer("alice"))).json()
    assert me["balance"] == 300
    await assert_ledger_consistent(points_app, "alice")
