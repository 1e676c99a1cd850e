"""Two replicas of the leaders service settling commission at the same moment on one PostgreSQL database: each
accrual is settled once, whether they race outright or take turns under the job lock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.clock import utcnow
from services.common.events.contract import ORDER_PAID, ORDER_PICKED_UP
from services.common.jobs import run_exclusively
from services.leaders.commission.jobs import settlement_job
from tests.conftest import AppFactory
from tests.leaders.conftest import Orders, make_leader
from tests.leaders.test_commission import balance, deliver, entries, rule

pytestmark = pytest.mark.postgres


async def accruals_due(app: FastAPI, client: httpx.AsyncClient, orders: Orders, count: int) -> None:
    await make_leader(client, "l1")
    await rule(client, scope="default", mode="percentage", rate_bp=1000)
    for _ in range(count):
        order = orders.paid("l1", [(1, 1, 1000)])
        await deliver(app, ORDER_PAID, order)
        await deliver(app, ORDER_PICKED_UP, orders.picked_up(order, days_ago=30))


@pytest.mark.parametrize("locked", [True, False], ids=["taking turns", "racing"])
async def test_two_replicas_settle_each_accrual_once(make_app: AppFactory, orders: Orders, locked: bool) -> None:
    first, second = await make_app("leaders"), await make_app("leaders")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://t") as client:
        await accruals_due(first, client, orders, 15)
        later = utcnow() + timedelta(days=1)
        for app in (first, second):
            app.state.clock = lambda: later

        async def settle(app: FastAPI) -> Any:
            if locked:
                return await run_exclusively(app, "settlement_job", settlement_job)
            return await settlement_job(app)

        await asyncio.gather(settle(first), settle(second))
        if locked:
            await asyncio.gather(settle(first), settle(second))  # a later turn finds nothing left to do
        assert (await balance(client))["available_fen"] == 15 * 100
        assert [e["kind"] for e in await entries(client)].count("settlement") == 15
