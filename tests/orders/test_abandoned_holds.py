"""Points held for an order that never committed come back even when the points service was down at the time."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from services.common.clock import utcnow
from services.orders.clients import Hold, PointsUnavailable
from services.orders.orders.jobs import abandoned_holds_job, orphan_holds_job
from services.orders.orders.models import AbandonedHold, Order
from tests.orders.conftest import create_product, place_order
from tests.orders.fakes import FakePoints


@dataclass
class DiesAfterHolding(FakePoints):
    """Commits the hold, then the connection breaks before the answer (the points process died); releases fail
    while `down` is set."""

    async def hold(self, *, order_id: int, user_id: str, points: int, goods_fen: int) -> Hold:
        await super().hold(order_id=order_id, user_id=user_id, points=points, goods_fen=goods_fen)
        self.down = True
        raise PointsUnavailable()

    async def release(self, *, order_id: int) -> None:
        if self.down:
            raise PointsUnavailable()
        await super().release(order_id=order_id)


async def _count(app: FastAPI, model: type) -> int:
    async with app.state.db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_hold_of_an_order_that_failed_while_points_was_down_is_released_once_points_is_back(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    points = DiesAfterHolding(balances={"c1": 500})
    orders_app.state.points = points
    product = await create_product(orders_client, price_fen=1000, stock=5)

    failed = await place_order(orders_client, [(product, 1)], points=200, key="retry-me")
    await orders_app.state.after_transaction.drain()

    assert failed.status_code == 503 and failed.json()["code"] == "POINTS_UNAVAILABLE"
    assert await _count(orders_app, Order) == 0
    assert points.balances["c1"] == 300  # held by the points service, for an order that does not exist
    assert await _count(orders_app, AbandonedHold) == 1

    assert await abandoned_holds_job(orders_app) == 0  # still down: kept for the next run
    assert await _count(orders_app, AbandonedHold) == 1

    points.down = False
    assert await abandoned_holds_job(orders_app) == 1
    assert points.balances["c1"] == 500
    assert await _count(orders_app, AbandonedHold) == 0
    assert await abandoned_holds_job(orders_app) == 0  # released once


async def test_an_abandoned_hold_whose_id_now_belongs_to_a_live_order_is_not_released(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    points = FakePoints(balances={"c1": 500})
    orders_app.state.points = points
    product = await create_product(orders_client, price_fen=1000, stock=5)
    placed = await place_order(orders_client, [(product, 1)], points=200)
    assert placed.status_code == 201
    order_id = placed.json()["id"]
    async with orders_app.state.db.sessionmaker() as session, session.begin():
        session.add(AbandonedHold(order_id=order_id, created_at=utcnow()))

    assert await abandoned_holds_job(orders_app) == 0
    assert order_id in points.holds and order_id not in points.released
    assert await _count(orders_app, AbandonedHold) == 0


async def test_a_hold_left_by_an_orders_process_that_died_mid_order_is_released_by_the_sweep(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    points = FakePoints(balances={"c1": 500})
    orders_app.state.points = points
    product = await create_product(orders_client, price_fen=1000, stock=5)
    live = (await place_order(orders_client, [(product, 1)], points=100)).json()
    # What a process killed after the hold and before its commit leaves behind: a hold for an order that never was.
    await points.hold(order_id=live["id"] + 1000, user_id="c1", points=200, goods_fen=1000)
    assert points.balances["c1"] == 200

    assert await abandoned_holds_job(orders_app) == 0  # nothing recorded: the process died before it could
    assert await orphan_holds_job(orders_app) == 1
    assert points.released == [live["id"] + 1000]
    assert points.balances["c1"] == 400 and live["id"] in points.holds
