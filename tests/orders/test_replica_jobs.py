"""Two replicas of the orders service running the payment-timeout job at the same moment, on one PostgreSQL
database: each expired order is cancelled once and its stock comes back once, whether the replicas take turns
(the job lock) or race each other outright (the guarded updates alone)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from services.common.jobs import run_exclusively
from services.common.testing import asgi_client
from services.orders.orders.jobs import payment_timeout_job
from tests.conftest import AppFactory
from tests.orders.conftest import build_orders_app, create_product, expire_order, place_order, product_stock

pytestmark = pytest.mark.postgres


async def expired_orders(app: FastAPI, count: int) -> int:
    async with asgi_client(app) as client:
        product = await create_product(client, stock=count)
        for i in range(count):
            response = await place_order(client, [(product, 1)], who=f"c{i}")
            assert response.status_code == 201, response.text
            await expire_order(app, response.json()["id"])
    return product


async def cancellation_events(app: FastAPI) -> int:
    async with app.state.db.engine.connect() as conn:
        query = text("SELECT count(*) FROM outbox WHERE type = 'order.cancelled'")
        return int((await conn.execute(query)).scalar_one())


async def test_a_replica_skips_its_turn_while_another_runs_the_job(make_app: AppFactory) -> None:
    first, second = await build_orders_app(make_app), await build_orders_app(make_app)
    product = await expired_orders(first, 20)
    running, go_on = asyncio.Event(), asyncio.Event()

    async def slow_job(app: FastAPI) -> int:
        running.set()
        await go_on.wait()  # the first replica is in the middle of its run...
        return await payment_timeout_job(app)

    first_run = asyncio.create_task(run_exclusively(first, "payment_timeout_job", slow_job))
    await running.wait()
    # ...when the second replica's turn comes: it skips instead of doing the same work beside it.
    assert await run_exclusively(second, "payment_timeout_job", payment_timeout_job) is False
    go_on.set()
    assert await first_run is True
    async with asgi_client(first) as client:
        assert await product_stock(client, product) == 20
    assert await cancellation_events(first) == 20


async def test_replicas_racing_without_the_lock_still_cancel_each_order_once(make_app: AppFactory) -> None:
    first, second = await build_orders_app(make_app), await build_orders_app(make_app)
    product = await expired_orders(first, 20)

    counts = await asyncio.gather(payment_timeout_job(first), payment_timeout_job(second))
    assert sum(counts) == 20  # every order was cancelled by exactly one of them
    async with asgi_client(first) as client:
        assert await product_stock(client, product) == 20
    assert await cancellation_events(first) == 20
    async with first.state.db.engine.connect() as conn:
        cancelled = await conn.execute(text("SELECT count(*) FROM orders WHERE status = 'cancelled'"))
        assert cancelled.scalar_one() == 20
