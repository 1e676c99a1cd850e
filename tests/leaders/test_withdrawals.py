"""Withdrawals: guarded request, approval through the payout provider, rejection, and parallel requests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.events.consumer import apply_event
from services.common.events.contract import ORDER_PAID, ORDER_PICKED_UP
from services.common.testing import bearer
from services.leaders.db import inbox
from services.leaders.subscriptions import build_handlers
from services.leaders.withdrawals.payout import FakePayoutProvider
from tests.leaders.conftest import OPS, Orders, leader_headers, make_leader
from tests.leaders.test_commission import balance, entries, event, rule, settle


async def fund(client: httpx.AsyncClient, app: FastAPI, orders: Orders, leader_id: str, commission_fen: int) -> None:
    """Give the leader `commission_fen` of available commission (10% of a paid, picked-up, settled order)."""
    await rule(client, scope="default", mode="percentage", rate_bp=1000)
    order = orders.paid(leader_id, [(1, 1, commission_fen * 10)])
    for ev in (event(ORDER_PAID, order), event(ORDER_PICKED_UP, orders.picked_up(order, days_ago=8))):
        assert await apply_event(app.state.db, inbox, build_handlers(app.state.settings), ev)
    await settle(client)


async def withdraw(client: httpx.AsyncClient, amount: Any, key: str, leader_id: str = "l1") -> httpx.Response:
    return await client.post(
        f"/api/v1/leaders/{leader_id}/withdrawals",
        json={"amount_fen": amount},
        headers={**leader_headers(leader_id), "Idempotency-Key": key},
    )


@pytest.fixture
async def funded(leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders) -> None:
    await make_leader(leaders_client, "l1")
    await fund(leaders_client, leaders_app, orders, "l1", 10_000)


async def test_request_moves_the_amount_out_of_available_and_approval_pays_it(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, funded: None
) -> None:
    requested = await withdraw(leaders_client, 6000, "k1")
    assert requested.status_code == 201, requested.text
    assert requested.json()["status"] == "requested"
    after_request = await balance(leaders_client)
    assert (after_request["available_fen"], after_request["in_withdrawal_fen"]) == (4000, 6000)

    approved = await leaders_client.post(f"/api/v1/withdrawals/{requested.json()['id']}/approve", headers=OPS)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "paid" and approved.json()["payout_ref"]
    paid = await balance(leaders_client)
    assert (paid["available_fen"], paid["in_withdrawal_fen"], paid["withdrawn_fen"]) == (4000, 0, 6000)
    payout: FakePayoutProvider = leaders_app.state.payout_provider
    assert payout.paid == {requested.json()["id"]: ("l1", 6000)}
    again = await leaders_client.post(f"/api/v1/withdrawals/{requested.json()['id']}/approve", headers=OPS)
    assert again.status_code == 409 and again.json()["code"] == "WITHDRAWAL_ALREADY_DECIDED"
    kinds = [e["kind"] for e in await entries(leaders_client)]
    assert kinds[:2] == ["withdrawal_paid", "withdrawal"]


async def test_rejection_returns_the_amount_to_available(leaders_client: httpx.AsyncClient, funded: None) -> None:
    requested = (await withdraw(leaders_client, 6000, "k1")).json()
    rejected = await leaders_client.post(
        f"/api/v1/withdrawals/{requested['id']}/reject", json={"reason": "bank details missing"}, headers=OPS
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    after = await balance(leaders_client)
    assert (after["available_fen"], after["in_withdrawal_fen"], after["withdrawn_fen"]) == (10_000, 0, 0)
    approve_after = await leaders_client.post(f"/api/v1/withdrawals/{requested['id']}/approve", headers=OPS)
    assert approve_after.status_code == 409


async def test_more_than_available_is_409_and_changes_nothing(leaders_client: httpx.AsyncClient, funded: None) -> None:
    response = await withdraw(leaders_client, 10_001, "k1")
    assert response.status_code == 409 and response.json()["code"] == "INSUFFICIENT_BALANCE"
    assert (await balance(leaders_client))["available_fen"] == 10_000
    listed = await leaders_client.get("/api/v1/leaders/l1/withdrawals", headers=leader_headers("l1"))
    assert listed.json()["items"] == []


async def test_below_the_minimum_is_refused(make_app: Any, orders: Orders) -> None:
    app = await make_app("leaders", withdrawal_minimum_fen=5000)
    from services.common.testing import asgi_client

    async with asgi_client(app) as client:
        await make_leader(client, "l1")
        await fund(client, app, orders, "l1", 10_000)
        small = await withdraw(client, 4999, "k1")
        assert small.status_code == 422 and small.json()["code"] == "WITHDRAWAL_BELOW_MINIMUM"
        assert (await withdraw(client, 5000, "k2")).status_code == 201


@pytest.mark.parametrize("amount", ["100", True, 1.5, -1, 0, 2**63])
async def test_amount_must_be_a_positive_integer(leaders_client: httpx.AsyncClient, funded: None, amount: Any) -> None:
    assert (await withdraw(leaders_client, amount, "k1")).status_code == 422


async def test_idempotency_key_replays_and_never_withdraws_twice(
    leaders_client: httpx.AsyncClient, funded: None
) -> None:
    first = await withdraw(leaders_client, 3000, "same")
    second = await withdraw(leaders_client, 3000, "same")
    assert second.status_code == 201 and second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert (await balance(leaders_client))["available_fen"] == 7000
    other_body = await withdraw(leaders_client, 2000, "same")
    assert other_body.status_code == 409
    missing = await leaders_client.post(
        "/api/v1/leaders/l1/withdrawals", json={"amount_fen": 100}, headers=leader_headers("l1")
    )
    assert missing.status_code in (400, 422)


async def test_only_the_leader_withdraws_and_only_ops_decide(leaders_client: httpx.AsyncClient, funded: None) -> None:
    await make_leader(leaders_client, "l2")
    other = await leaders_client.post(
        "/api/v1/leaders/l1/withdrawals",
        json={"amount_fen": 100},
        headers={**leader_headers("l2"), "Idempotency-Key": "x"},
    )
    assert other.status_code == 403
    by_ops = await leaders_client.post(
        "/api/v1/leaders/l1/withdrawals", json={"amount_fen": 100}, headers={**OPS, "Idempotency-Key": "x"}
    )
    assert by_ops.status_code == 403
    requested = (await withdraw(leaders_client, 100, "k")).json()
    assert (
        await leaders_client.post(f"/api/v1/withdrawals/{requested['id']}/approve", headers=leader_headers("l1"))
    ).status_code == 403
    assert (
        await leaders_client.get(f"/api/v1/withdrawals/{requested['id']}", headers=leader_headers("l2"))
    ).status_code == 404
    assert (await leaders_client.get("/api/v1/leaders/l1/withdrawals", headers=leader_headers("l2"))).status_code == 403
    queue = await leaders_client.get("/api/v1/withdrawals", params={"status": "requested"}, headers=OPS)
    assert [w["id"] for w in queue.json()["items"]] == [requested["id"]]


async def test_a_payout_failure_leaves_the_withdrawal_requested(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, funded: None
) -> None:
    requested = (await withdraw(leaders_client, 1000, "k")).json()
    leaders_app.state.payout_provider.fail_next = True
    failed = await leaders_client.post(f"/api/v1/withdrawals/{requested['id']}/approve", headers=OPS)
    assert failed.status_code == 503 and failed.json()["code"] == "PAYOUT_FAILED"
    still = await leaders_client.get(f"/api/v1/withdrawals/{requested['id']}", headers=OPS)
    assert still.json()["status"] == "requested"
    assert (await balance(leaders_client))["in_withdrawal_fen"] == 1000
    retried = await leaders_client.post(f"/api/v1/withdrawals/{requested['id']}/approve", headers=OPS)
    assert retried.status_code == 200


@pytest.mark.postgres
async def test_sixty_parallel_withdrawals_against_one_balance_never_overdraw(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, funded: None
) -> None:
    # 10,000 fen available; 60 requests of 300 fen at once on real parallel connections: exactly 33 can succeed.
    responses = await asyncio.gather(*(withdraw(leaders_client, 300, f"p{i}") for i in range(60)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 33 and statuses.count(409) == 27, statuses
    final = await balance(leaders_client)
    assert (final["available_fen"], final["in_withdrawal_fen"]) == (100, 9900)
    assert final["available_fen"] >= 0
    withdrawal_entries = [e for e in await entries(leaders_client) if e["kind"] == "withdrawal"]
    assert len(withdrawal_entries) == 33
    assert sorted(e["available_after_fen"] for e in withdrawal_entries) == list(range(100, 10_000, 300))


@pytest.mark.postgres
async def test_parallel_approve_and_reject_of_one_withdrawal_decide_it_once(
    leaders_client: httpx.AsyncClient, funded: None
) -> None:
    requested = (await withdraw(leaders_client, 5000, "k")).json()
    approve = leaders_client.post(f"/api/v1/withdrawals/{requested['id']}/approve", headers=OPS)
    reject = leaders_client.post(f"/api/v1/withdrawals/{requested['id']}/reject", json={"reason": "x"}, headers=OPS)
    results = await asyncio.gather(approve, reject, *(
        leaders_client.post(f"/api/v1/withdrawals/{requested['id']}/approve", headers=bearer(f"ops{i}", ["ops"]))
        for i in range(4)
    ))  # fmt: skip
    assert sorted(r.status_code for r in results).count(200) == 1
    final = await balance(leaders_client)
    assert final["in_withdrawal_fen"] == 0
    assert final["available_fen"] + final["withdrawn_fen"] == 10_000


async def test_a_manager_reads_the_withdrawals_of_their_own_leaders_only(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, orders: Orders
) -> None:
    await make_leader(leaders_client, "l1", manager_id="s_liu")
    await fund(leaders_client, leaders_app, orders, "l1", 10_000)
    requested = await withdraw(leaders_client, 1000, "k-managed")
    assert requested.status_code == 201, requested.text
    path = f"/api/v1/withdrawals/{requested.json()['id']}"

    # Their manager reads it one by one as in the leader's list; another manager is told it does not exist.
    liu, chen = bearer("s_liu", ["manager"]), bearer("s_chen", ["manager"])
    listed = await leaders_client.get("/api/v1/leaders/l1/withdrawals", headers=liu)
    assert [w["id"] for w in listed.json()["items"]] == [requested.json()["id"]]
    mine = await leaders_client.get(path, headers=liu)
    assert mine.status_code == 200 and mine.json()["amount_fen"] == 1000
    theirs = await leaders_client.get(path, headers=chen)
    assert theirs.status_code == 404 and theirs.json()["code"] == "WITHDRAWAL_NOT_FOUND"


async def test_a_leader_who_has_earned_nothing_reads_zeros_and_cannot_withdraw(
    leaders_client: httpx.AsyncClient,
) -> None:
    await make_leader(leaders_client, "l1")
    balance = await leaders_client.get("/api/v1/leaders/l1/commission/balance", headers=OPS)
    assert balance.status_code == 200 and balance.json()["available_fen"] == balance.json()["pending_fen"] == 0
    listed = await leaders_client.get("/api/v1/leaders/l1/commission/entries", headers=OPS)
    assert listed.status_code == 200 and listed.json()["items"] == []
    refused = await withdraw(leaders_client, 100, "first")
    assert refused.status_code == 409 and refused.json()["code"] == "INSUFFICIENT_BALANCE"
    # Someone who is not a leader has no account at all.
    stranger = await leaders_client.get("/api/v1/leaders/nobody/commission/balance", headers=OPS)
    assert stranger.status_code == 404 and stranger.json()["code"] == "COMMISSION_ACCOUNT_NOT_FOUND"
