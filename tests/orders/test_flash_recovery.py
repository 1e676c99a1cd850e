"""Crash recovery of the flash-sale path and idempotency of the batched purchase path."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from services.orders.flash_sales.jobs import recovery_job
from services.orders.flash_sales.recovery import release_orphan_reservations
from services.orders.flash_sales.runtime import SaleTerms
from services.orders.inventory.redis_stock import RedisSaleStock
from tests.orders.conftest import LEADER, create_product, customer
from tests.orders.test_flash_sales import buy, create_sale, reconciliation


@dataclass
class Reservation:
    user_id: str
    token: str
    quantity: int = 1


async def reserve(redis: RedisSaleStock, sale_id: int, user_id: str, token: str) -> bool:
    """A reservation made in Redis the way the purchase path makes one."""
    [outcome] = await redis.reserve_many(
        sale_id=sale_id, reservations=[Reservation(user_id, token)], now=datetime.now(UTC)
    )
    return outcome == 1


@pytest.mark.redis
async def test_a_reservation_whose_order_never_committed_is_released_after_a_crash(
    redis_orders_app: FastAPI, redis_client: httpx.AsyncClient
) -> None:
    apples = await create_product(redis_client, stock=10)
    sale = await create_sale(redis_client, apples, stock=2)
    assert (await buy(redis_client, sale["id"], "winner")).status_code == 201
    flash = redis_orders_app.state.flash
    redis = flash.inventory.redis
    terms: SaleTerms = flash.cached_terms(sale["id"])
    # A process reserved the last unit in Redis and died before its order transaction committed: a token made
    # ten minutes ago that no order row carries. And one made just now: its transaction may still be running.
    old = f"{int(time.time() * 1000) - 600_000:x}.{uuid.uuid4().hex[:20]}"
    fresh = f"{int(time.time() * 1000):x}.{uuid.uuid4().hex[:20]}"
    now = datetime.now(UTC)
    assert await reserve(redis, terms.id, "crashed", old)
    assert (await buy(redis_client, sale["id"], "late")).json()["code"] == "FLASH_SALE_SOLD_OUT"
    assert not (await reconciliation(redis_client, sale["id"]))["consistent"]

    # The app's periodic job uses the default grace period (120 s): the ten-minute-old token is an orphan for it.
    await recovery_job(redis_orders_app)
    # Idempotent: a second pass (or another process) finds nothing more to release.
    assert await release_orphan_reservations(redis_orders_app.state.db, flash, now=now, grace_seconds=60) == 0
    report = await reconciliation(redis_client, sale["id"])
    assert report["consistent"], report["differences"]
    assert report["redis"]["remaining"] == 1 and report["redis"]["released_total"] == 1

    # The unit is for sale again; a reservation younger than the grace period is left alone.
    assert await reserve(redis, terms.id, "inflight", fresh)
    assert await release_orphan_reservations(redis_orders_app.state.db, flash, now=now, grace_seconds=60) == 0
    assert await redis.release_many(sale_id=terms.id, tokens=[fresh]) == 1
    assert (await buy(redis_client, sale["id"], "late")).status_code == 201
    report = await reconciliation(redis_client, sale["id"])
    assert report["consistent"], report["differences"]
    assert report["sold_units"] == 2


async def test_the_recovery_job_is_a_no_op_without_redis(orders_app: FastAPI) -> None:
    statements: list[str] = []
    engine = orders_app.state.db.engine.sync_engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        await recovery_job(orders_app)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert statements == []


async def test_parallel_retries_of_one_key_give_one_order(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    apples = await create_product(orders_client, stock=100)
    sale = await create_sale(orders_client, apples, stock=50, limit=3)
    key = uuid.uuid4().hex
    responses = await asyncio.gather(*(buy(orders_client, sale["id"], "retrier", key=key) for _ in range(10)))
    created = [r for r in responses if r.status_code == 201]
    # Retries of one key either replay the first answer or are told it is still in progress; never a second order.
    assert {r.json()["id"] for r in created} == {created[0].json()["id"]}
    assert all(r.json()["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS" for r in responses if r.status_code != 201)
    replay = await buy(orders_client, sale["id"], "retrier", key=key)
    assert replay.status_code == 201 and replay.json() == created[0].json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    other_body = await orders_client.post(
        f"/api/v1/flash-sales/{sale['id']}/orders",
        json={"leader_id": LEADER, "quantity": 2},
        headers={**customer("retrier"), "Idempotency-Key": key},
    )
    assert other_body.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    sale_now = (await orders_client.get(f"/api/v1/flash-sales/{sale['id']}", headers=customer())).json()
    assert sale_now["remaining"] == 49


@pytest.mark.redis
async def test_each_reservation_is_looked_up_once_per_process(
    redis_orders_app: FastAPI, redis_client: httpx.AsyncClient
) -> None:
    apples = await create_product(redis_client, stock=10)
    sale = await create_sale(redis_client, apples, stock=5)
    for buyer in ("a", "b", "c"):
        assert (await buy(redis_client, sale["id"], buyer)).status_code == 201
    db, flash = redis_orders_app.state.db, redis_orders_app.state.flash
    lookups: list[int] = []
    engine = db.read_engine.sync_engine

    def count(_conn: object, _cursor: object, statement: str, params: object, *_args: object) -> None:
        if "flash_reservation IN" in statement:
            lookups.append(len(params) if isinstance(params, (list, tuple)) else 1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        # Grace 0: the three reservations (with orders) are old enough; the first pass looks them up once.
        assert await release_orphan_reservations(db, flash, now=datetime.now(UTC), grace_seconds=0) == 0
        assert sum(lookups) == 3
        await asyncio.sleep(0.01)
        assert await release_orphan_reservations(db, flash, now=datetime.now(UTC), grace_seconds=0) == 0
        assert sum(lookups) == 3  # nothing new since the last pass: no lookup at all

        # A unit reserved by a process that died before its order committed is found by the next pass.
        orphan = f"{int(time.time() * 1000):x}.{uuid.uuid4().hex[:20]}"
        assert await reserve(flash.inventory.redis, sale["id"], "crashed", orphan)
        await asyncio.sleep(0.01)
        assert await release_orphan_reservations(db, flash, now=datetime.now(UTC), grace_seconds=0) == 1
        assert sum(lookups) == 4

        # A restarted process (nothing checked yet) looks at every reservation again.
        flash.recovery_checked_before_ms.clear()
        assert await release_orphan_reservations(db, flash, now=datetime.now(UTC), grace_seconds=0) == 0
        assert sum(lookups) == 7
    finally:
        event.remove(engine, "before_cursor_execute", count)
