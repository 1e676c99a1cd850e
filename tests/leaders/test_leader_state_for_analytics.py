"""What the leaders service tells analytics: `leader.updated` (status, level, manager) and the dashboard summary."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from services.common.clock import utcnow
from services.common.events.contract import LEADER_UPDATED, ORDER_PAID, ORDER_PICKED_UP
from services.common.testing import bearer, service_bearer
from services.leaders.db import outbox
from tests.leaders.conftest import OPS, SERVICE, Orders, make_leader
from tests.leaders.test_commission import deliver
from tests.leaders.test_levels import configure_levels


async def published_states(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.db.reading() as session:
        conn = await session.connection()
        query = select(outbox.table.c.data).where(outbox.table.c.type == LEADER_UPDATED).order_by(outbox.table.c.seq)
        return [
            {k: v for k, v in row.data.items() if k in ("leader_id", "status", "level", "manager_id")}
            for row in await conn.execute(query)
        ]


async def test_approval_and_each_change_of_status_level_or_manager_publish_the_leaders_state(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI
) -> None:
    await configure_levels(leaders_client)
    await make_leader(leaders_client, "l1", manager_id="m1")
    for change in ({"manager_id": "m2"}, {"level": "silver"}, {"status": "suspended", "reason": "audit"}):
        response = await leaders_client.patch("/api/v1/leaders/l1", json=change, headers=OPS)
        assert response.status_code == 200, response.text
    state = {"leader_id": "l1", "status": "active", "level": None, "manager_id": "m1"}
    assert await published_states(leaders_app) == [
        state,
        state | {"manager_id": "m2"},
        state | {"manager_id": "m2", "level": "silver"},
        state | {"manager_id": "m2", "level": "silver", "status": "suspended"},
    ]


async def test_the_summary_gives_balances_and_the_progress_to_the_next_level(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI
) -> None:
    await configure_levels(leaders_client)  # silver: 100,000 fen and 2 orders; gold: 500,000 fen and 5 orders
    await make_leader(leaders_client, "l1", manager_id="m1", level="silver")
    orders = Orders()
    # Paid after the level's rate became a commission rule (it applies from when it was set).
    order = orders.paid("l1", [(1, 1, 150_000)], paid_at=utcnow())
    await deliver(leaders_app, ORDER_PAID, order)
    await deliver(leaders_app, ORDER_PICKED_UP, orders.picked_up(order, days_ago=0))

    response = await leaders_client.get("/internal/leaders/l1/summary", headers=service_bearer("analytics"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["level"], body["manager_id"], body["status"]) == ("silver", "m1", "active")
    assert (body["window_sales_fen"], body["window_completed_orders"]) == (150_000, 1)
    assert body["next_level"]["code"] == "gold"
    # Sales 150,000 of 500,000 (3000 bp), orders 1 of 5 (2000 bp): the lesser is how far gold is.
    assert body["progress_bp"] == 2000
    assert body["pending_fen"] == 150_000 * 1200 // 10_000 and body["available_fen"] == 0  # silver's 12 %

    refused = await leaders_client.get("/internal/leaders/l1/summary", headers=bearer("l1", ["leader"]))
    assert refused.status_code == 401  # a person's token is never good for /internal
    other_service = await leaders_client.get("/internal/leaders/l1/summary", headers=SERVICE)
    assert other_service.status_code == 403
