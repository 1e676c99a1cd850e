"""After-sale races that only a real database with parallel connections can show (PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.orders.conftest import customer, get_order, outbox_events
from tests.orders.test_after_sales import FINANCE, SUPPORT, act, ask, picked_up_order

pytestmark = pytest.mark.postgres


async def refunds_of(app: FastAPI, order_id: int) -> list[int]:
    async with app.state.db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT refund_fen FROM refunds WHERE order_id = :id"), {"id": order_id})
        return [int(r[0]) for r in rows]


async def test_approve_and_reject_of_one_request_at_once_give_exactly_one_decision(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    for _ in range(5):
        order = await picked_up_order(orders_client, price_fen=30_000, quantity=1)
        request_id = (await ask(orders_client, order)).json()["id"]
        approve, reject = await asyncio.gather(
            act(orders_client, request_id, "approve", FINANCE, None),
            act(orders_client, request_id, "reject", SUPPORT, "no"),
        )
        assert sorted([approve.status_code, reject.status_code]) == [200, 409], (approve.text, reject.text)
        loser = reject if reject.status_code == 409 else approve
        assert loser.json()["code"] in ("AFTER_SALE_CHANGED", "AFTER_SALE_NOT_OPEN")
        final = (await orders_client.get(f"/api/v1/after-sales/{request_id}", headers=customer())).json()
        line = (await get_order(orders_client, order))["lines"][0]
        if approve.status_code == 200:
            assert final["status"] == "approved" and (line["refunded_quantity"], line["reserved_quantity"]) == (1, 0)
            assert await refunds_of(orders_app, order["id"]) == [30_000]
        else:
            assert final["status"] == "rejected" and (line["refunded_quantity"], line["reserved_quantity"]) == (0, 0)
            assert await refunds_of(orders_app, order["id"]) == []
        assert [h["action"] for h in final["history"]][1:] in (["approved"], ["rejected"])


async def test_parallel_requests_on_one_line_never_reserve_more_than_was_bought(
    orders_client: httpx.AsyncClient,
) -> None:
    order = await picked_up_order(orders_client, price_fen=30_000, quantity=3)
    responses = await asyncio.gather(*(ask(orders_client, order) for _ in range(8)))
    assert Counter(r.status_code for r in responses) == {201: 3, 409: 5}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"AFTER_SALE_EXCEEDS_PURCHASE"}
    line = (await get_order(orders_client, order))["lines"][0]
    assert (line["refunded_quantity"], line["reserved_quantity"]) == (0, 3)


async def test_parallel_small_requests_refund_at_most_what_was_paid(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    order = await picked_up_order(orders_client, price_fen=333, quantity=3, points=100)
    paid = order["lines"][0]["paid_fen"]
    responses: list[Any] = await asyncio.gather(*(ask(orders_client, order) for _ in range(6)))
    assert Counter(r.status_code for r in responses) == {201: 3, 409: 3}
    assert {r.json()["status"] for r in responses if r.status_code == 201} == {"approved"}
    after = await get_order(orders_client, order)
    assert after["lines"][0]["refunded_quantity"] == 3 and after["refund_status"] == "full"
    assert sum(await refunds_of(orders_app, order["id"])) == paid == after["refunded_fen"]
    assert len(await outbox_events(orders_app, "order.refunded")) == 3
