"""Flash sales: who gets the stock, per-user limits, sold out from memory, expiry, and the concurrency runs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlmodel import col, select

from services.common.testing import asgi_client
from services.orders.flash_sales.service import CLOSE_GRACE_SECONDS, close_ended_sales
from services.orders.orders.jobs import payment_timeout_job
from services.orders.orders.models import Order
from tests.conftest import AppFactory
from tests.orders.conftest import (
    LEADER,
    OPS,
    build_orders_app,
    create_product,
    customer,
    expire_order,
    get_order,
    outbox_events,
    pay,
    product_stock,
)


async def create_sale(
    client: httpx.AsyncClient,
    product_id: int,
    *,
    stock: int = 10,
    limit: int = 1,
    price_fen: int = 100,
    starts_in: timedelta = timedelta(minutes=-1),
    lasts: timedelta = timedelta(hours=1),
) -> dict[str, Any]:
    starts = datetime.now(UTC) + starts_in
    body = {
        "product_id": product_id,
        "price_fen": price_fen,
        "stock": stock,
        "per_user_limit": limit,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + lasts).isoformat(),
    }
    response = await client.post("/api/v1/flash-sales", json=body, headers=OPS)
    assert response.status_code == 201, response.text
    sale: dict[str, Any] = response.json()
    return sale


async def buy(
    client: httpx.AsyncClient, sale_id: int, who: str = "c1", quantity: int = 1, key: str | None = None
) -> httpx.Response:
    headers = {**customer(who), "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post(
        f"/api/v1/flash-sales/{sale_id}/orders", json={"leader_id": LEADER, "quantity": quantity}, headers=headers
    )


async def reconciliation(client: httpx.AsyncClient, sale_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/flash-sales/{sale_id}/reconciliation", headers=OPS)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


async def test_ops_create_a_sale_from_product_stock(orders_client: httpx.AsyncClient) -> None:
    apples = await create_product(orders_client, stock=50, price_fen=3000)
    sale = await create_sale(orders_client, apples, stock=20, price_fen=100)
    assert sale["remaining"] == 20 and sale["product_name"] == "Eggs"
    assert await product_stock(orders_client, apples) == 30
    read = await orders_client.get(f"/api/v1/flash-sales/{sale['id']}", headers=customer())
    assert read.json() == sale

    too_big = await orders_client.post("/api/v1/flash-sales", json={**_body(apples), "stock": 31}, headers=OPS)
    assert too_big.status_code == 409 and too_big.json()["code"] == "OUT_OF_STOCK"
    by_customer = await orders_client.post("/api/v1/flash-sales", json=_body(apples), headers=customer())
    assert by_customer.status_code == 403
    backwards = {**_body(apples), "ends_at": "2020-01-01T00:00:00+00:00"}
    assert (await orders_client.post("/api/v1/flash-sales", json=backwards, headers=OPS)).status_code == 422
    naive = {**_body(apples), "starts_at": "2030-01-01T00:00:00"}
    assert (await orders_client.post("/api/v1/flash-sales", json=naive, headers=OPS)).status_code == 422


def _body(product_id: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "product_id": product_id,
        "price_fen": 100,
        "stock": 1,
        "per_user_limit": 1,
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
    }


async def test_buying_gives_an_ordinary_order_at_the_sale_price(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    apples = await create_product(orders_client, stock=50, price_fen=3000)
    sale = await create_sale(orders_client, apples, stock=5, limit=2, price_fen=100)
    response = await buy(orders_client, sale["id"], quantity=2)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["flash_sale_id"] == sale["id"] and order["payable_fen"] == 200
    assert order["lines"][0]["unit_price_fen"] == 100 and order["lines"][0]["quantity"] == 2
    expires = datetime.fromisoformat(order["expires_at"]) - datetime.fromisoformat(order["created_at"])
    assert expires == timedelta(seconds=orders_app.state.settings.flash_payment_timeout_seconds)
    assert await product_stock(orders_client, apples) == 45  # the product's own stock is untouched by buyers

    paid = await pay(orders_client, order)
    assert paid["status"] == "paid"
    [event] = await outbox_events(orders_app, "order.paid")
    assert event["data"]["flash_sale_id"] == sale["id"]


async def test_per_user_limit_sold_out_and_window(orders_client: httpx.AsyncClient) -> None:
    apples = await create_product(orders_client, stock=50)
    sale = await create_sale(orders_client, apples, stock=2, limit=1)
    assert (await buy(orders_client, sale["id"], "c1")).status_code == 201
    again = await buy(orders_client, sale["id"], "c1")
    assert again.status_code == 409 and again.json()["code"] == "FLASH_SALE_LIMIT_REACHED"
    over = await buy(orders_client, sale["id"], "c2", quantity=2)
    assert over.status_code == 409 and over.json()["code"] == "FLASH_SALE_LIMIT_REACHED"
    assert (await buy(orders_client, sale["id"], "c2")).status_code == 201  # the last unit
    gone = await buy(orders_client, sale["id"], "c3")
    assert gone.status_code == 409 and gone.json()["code"] == "FLASH_SALE_SOLD_OUT"

    later = await create_sale(orders_client, apples, starts_in=timedelta(hours=1))
    early = await buy(orders_client, later["id"], "c1")
    assert early.status_code == 409 and early.json()["code"] == "FLASH_SALE_NOT_ACTIVE"
    missing = await buy(orders_client, 999_999, "c1")
    assert missing.status_code == 404 and missing.json()["code"] == "FLASH_SALE_NOT_FOUND"


async def test_sold_out_is_answered_without_touching_the_database(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    apples = await create_product(orders_client, stock=50)
    sale = await create_sale(orders_client, apples, stock=1)
    assert (await buy(orders_client, sale["id"], "c1")).status_code == 201
    assert (await buy(orders_client, sale["id"], "c2")).status_code == 409  # learns it is sold out

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = orders_app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = await buy(orders_client, sale["id"], "c3")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 409 and response.json()["code"] == "FLASH_SALE_SOLD_OUT"
    assert statements == []


async def test_an_expired_flash_order_returns_its_unit_once_for_the_next_buyer(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    apples = await create_product(orders_client, stock=50)
    sale = await create_sale(orders_client, apples, stock=1)
    first = (await buy(orders_client, sale["id"], "c1")).json()
    assert (await buy(orders_client, sale["id"], "c2")).status_code == 409
    await expire_order(orders_app, first["id"])
    assert await payment_timeout_job(orders_app) == 1
    assert await payment_timeout_job(orders_app) == 0
    sale_now = (await orders_client.get(f"/api/v1/flash-sales/{sale['id']}", headers=OPS)).json()
    assert sale_now["remaining"] == 1
    assert await product_stock(orders_client, apples) == 49  # back to the sale, not to the product

    second = await buy(orders_client, sale["id"], "c2")
    assert second.status_code == 201, second.text
    # The expired buyer's quota came back as well, but the unit is taken now.
    assert (await buy(orders_client, sale["id"], "c1")).json()["code"] == "FLASH_SALE_SOLD_OUT"
    report = await reconciliation(orders_client, sale["id"])
    assert report["consistent"], report["differences"]
    assert report["sold_units"] == 1 and report["redis"] is None


async def run_buyers(client: httpx.AsyncClient, sale_id: int, buyers: int) -> list[httpx.Response]:
    return await asyncio.gather(*(buy(client, sale_id, f"buyer-{i}") for i in range(buyers)))


async def check_sold_exactly(
    app: FastAPI, client: httpx.AsyncClient, sale_id: int, responses: list[httpx.Response]
) -> None:
    won = [r for r in responses if r.status_code == 201]
    lost = [r for r in responses if r.status_code != 201]
    assert len(won) == 100, [r.text for r in lost[:3]]
    assert {r.json()["code"] for r in lost} == {"FLASH_SALE_SOLD_OUT"}
    assert len({r.json()["customer_id"] for r in won}) == 100
    async with app.state.db.sessionmaker() as session:
        ids = (await session.exec(select(Order.customer_id).where(col(Order.flash_sale_id) == sale_id))).all()
        count, distinct = len(ids), len(set(ids))
    assert count == 100 and distinct == 100
    sale = (await client.get(f"/api/v1/flash-sales/{sale_id}", headers=OPS)).json()
    assert sale["remaining"] == 0


async def test_400_buyers_for_100_units_in_the_database(orders_app: FastAPI, orders_client: httpx.AsyncClient) -> None:
    apples = await create_product(orders_client, stock=100)
    sale = await create_sale(orders_client, apples, stock=100, limit=1)
    responses = await run_buyers(orders_client, sale["id"], 400)
    await check_sold_exactly(orders_app, orders_client, sale["id"], responses)
    report = await reconciliation(orders_client, sale["id"])
    assert report["consistent"], report["differences"]


async def test_one_buyer_in_parallel_cannot_pass_the_limit(orders_client: httpx.AsyncClient) -> None:
    apples = await create_product(orders_client, stock=100)
    sale = await create_sale(orders_client, apples, stock=50, limit=2)
    responses = await asyncio.gather(*(buy(orders_client, sale["id"], "greedy") for _ in range(20)))
    assert sum(r.status_code == 201 for r in responses) == 2
    assert {r.json()["code"] for r in responses if r.status_code != 201} == {"FLASH_SALE_LIMIT_REACHED"}


# -- Redis -----------------------------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_400_buyers_for_100_units_on_redis(redis_orders_app: FastAPI, redis_client: httpx.AsyncClient) -> None:
    apples = await create_product(redis_client, stock=100)
    sale = await create_sale(redis_client, apples, stock=100, limit=1)
    responses = await run_buyers(redis_client, sale["id"], 400)
    await redis_orders_app.state.after_transaction.drain()
    await check_sold_exactly(redis_orders_app, redis_client, sale["id"], responses)
    report = await reconciliation(redis_client, sale["id"])
    assert report["consistent"], report["differences"]
    redis = report["redis"]
    # Every reservation ended as one order or one release.
    assert redis["remaining"] == 0 and redis["live_reservations"] == 100 and redis["buyers"] == 100
    assert redis["reserved_total"] - redis["released_total"] == 100


@pytest.mark.redis
async def test_redis_expiry_returns_the_unit_exactly_once(
    redis_orders_app: FastAPI, redis_client: httpx.AsyncClient
) -> None:
    apples = await create_product(redis_client, stock=10)
    sale = await create_sale(redis_client, apples, stock=1)
    first = (await buy(redis_client, sale["id"], "c1")).json()
    assert (await buy(redis_client, sale["id"], "c2")).json()["code"] == "FLASH_SALE_SOLD_OUT"
    await expire_order(redis_orders_app, first["id"])
    results = await asyncio.gather(
        payment_timeout_job(redis_orders_app),
        payment_timeout_job(redis_orders_app),
        redis_client.post(f"/api/v1/orders/{first['id']}/cancel", headers=customer("c1")),
    )
    await redis_orders_app.state.after_transaction.drain()
    assert (await get_order(redis_client, first))["status"] == "cancelled"
    report = await reconciliation(redis_client, sale["id"])
    assert report["consistent"], report["differences"]
    assert report["redis"]["remaining"] == 1 and report["database"]["remaining"] == 1
    assert report["redis"]["released_total"] == 1
    assert results[2].status_code in (200, 409)

    assert (await buy(redis_client, sale["id"], "c2")).status_code == 201
    assert (await buy(redis_client, sale["id"], "c3")).json()["code"] == "FLASH_SALE_SOLD_OUT"


@pytest.mark.redis
async def test_redis_reservation_is_released_when_the_order_cannot_be_written(
    redis_orders_app: FastAPI, redis_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    apples = await create_product(redis_client, stock=10)
    sale = await create_sale(redis_client, apples, stock=3)

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("database said no")

    # The order write fails after Redis reserved.
    monkeypatch.setattr("services.orders.orders.repository.insert_many_orders", broken)
    failed = await buy(redis_client, sale["id"], "c1")
    assert failed.status_code == 500
    monkeypatch.undo()
    await redis_orders_app.state.after_transaction.drain()
    report = await reconciliation(redis_client, sale["id"])
    assert report["consistent"], report["differences"]
    assert report["redis"]["remaining"] == 3 and report["redis"]["released_total"] == 1
    assert (await buy(redis_client, sale["id"], "c1")).status_code == 201


@pytest.mark.redis
async def test_redis_is_loaded_from_the_database_when_its_keys_are_missing(
    make_app: AppFactory, redis_orders_app: FastAPI, redis_client: httpx.AsyncClient
) -> None:
    apples = await create_product(redis_client, stock=10)
    sale = await create_sale(redis_client, apples, stock=3)
    assert (await buy(redis_client, sale["id"], "c1")).status_code == 201
    redis = redis_orders_app.state.inventory.redis
    await redis.client.delete(*redis.keys(sale["id"]))  # Redis lost its data
    assert (await buy(redis_client, sale["id"], "c1")).json()["code"] == "FLASH_SALE_LIMIT_REACHED"
    assert (await buy(redis_client, sale["id"], "c2")).status_code == 201
    report = await reconciliation(redis_client, sale["id"])
    assert report["consistent"], report["differences"]
    assert report["redis"]["remaining"] == 1


async def test_unknown_redis_disabled_app_reports_no_redis_side(make_app: AppFactory) -> None:
    app = await build_orders_app(make_app)
    async with asgi_client(app) as client:
        apples = await create_product(client, stock=10)
        sale = await create_sale(client, apples, stock=3)
        report = await reconciliation(client, sale["id"])
        assert report["consistent"] and report["redis"] is None and report["sold_units"] == 0


async def check_an_ended_sale_gives_its_unsold_units_back(app: FastAPI, client: httpx.AsyncClient) -> int:
    eggs = await create_product(client, stock=50)
    sale = await create_sale(client, eggs, stock=10, limit=3)
    await pay(client, (await buy(client, sale["id"], "c1", quantity=2)).json())
    pending = (await buy(client, sale["id"], "c2")).json()
    await app.state.after_transaction.drain()
    assert await product_stock(client, eggs) == 40
    db, flash = app.state.db, app.state.flash
    assert await close_ended_sales(db, flash, now=datetime.now(UTC)) == []  # still on

    later = datetime.fromisoformat(sale["ends_at"]) + timedelta(seconds=CLOSE_GRACE_SECONDS + 1)
    [closed] = await close_ended_sales(db, flash, now=later)
    assert (closed.remaining, closed.returned_to_product, closed.closed_at) == (0, 7, later)
    assert await product_stock(client, eggs) == 47
    assert await close_ended_sales(db, flash, now=later) == []  # once

    # Cancelled after the close: the unit goes to the product, the closed sale sells nothing more.
    cancelled = await client.post(f"/api/v1/orders/{pending['id']}/cancel", headers=customer("c2"))
    assert cancelled.status_code == 200, cancelled.text
    await app.state.after_transaction.drain()
    assert await product_stock(client, eggs) == 48
    read = (await client.get(f"/api/v1/flash-sales/{sale['id']}", headers=OPS)).json()
    assert (read["remaining"], read["returned_to_product"]) == (0, 8) and read["closed_at"] is not None
    report = await reconciliation(client, sale["id"])
    assert report["consistent"], report["differences"]
    assert report["sold_units"] == 2
    return int(sale["id"])


async def test_an_ended_sale_gives_its_unsold_units_back_to_the_product(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    await check_an_ended_sale_gives_its_unsold_units_back(orders_app, orders_client)


@pytest.mark.redis
async def test_an_ended_sale_on_redis_is_closed_and_forgotten_there(
    redis_orders_app: FastAPI, redis_client: httpx.AsyncClient
) -> None:
    sale_id = await check_an_ended_sale_gives_its_unsold_units_back(redis_orders_app, redis_client)
    redis = redis_orders_app.state.inventory.redis
    assert await redis.client.exists(*redis.keys(sale_id)) == 0  # the database alone counts a closed sale's units
    assert (await reconciliation(redis_client, sale_id))["redis"] is None


async def check_ops_end_a_sale_now(app: FastAPI, client: httpx.AsyncClient) -> None:
    eggs = await create_product(client, stock=50)
    sale = await create_sale(client, eggs, stock=10, limit=5)
    assert (await buy(client, sale["id"], "c1")).status_code == 201
    flash = app.state.flash
    stale = flash.cached_terms(sale["id"])
    assert stale is not None

    assert (await client.post(f"/api/v1/flash-sales/{sale['id']}/end", headers=customer())).status_code == 403
    ended = await client.post(f"/api/v1/flash-sales/{sale['id']}/end", headers=OPS)
    assert ended.status_code == 200, ended.text
    assert datetime.fromisoformat(ended.json()["ends_at"]) <= datetime.now(UTC)
    await app.state.after_transaction.drain()
    refused = await buy(client, sale["id"], "c2")
    assert refused.status_code == 409 and refused.json()["code"] == "FLASH_SALE_NOT_ACTIVE"

    # Another process still holding the old window is refused too (by Redis, or by the sale's row).
    flash._terms[sale["id"]] = stale
    late = await buy(client, sale["id"], "c3")
    assert late.status_code == 409 and late.json()["code"] == "FLASH_SALE_NOT_ACTIVE", late.text
    redis = app.state.inventory.redis
    if redis is not None:
        await redis.client.hset(redis.keys(sale["id"])[0], "ends", "99999999999999")  # Redis not told
        flash._terms[sale["id"]] = stale
        later = await buy(client, sale["id"], "c4")
        assert later.status_code == 409 and later.json()["code"] == "FLASH_SALE_NOT_ACTIVE", later.text
    await app.state.after_transaction.drain()

    again = await client.post(f"/api/v1/flash-sales/{sale['id']}/end", headers=OPS)
    assert again.status_code == 200 and again.json()["ends_at"] == ended.json()["ends_at"]  # over: left as it is
    report = await reconciliation(client, sale["id"])
    assert report["consistent"], report["differences"]
    assert report["sold_units"] == 1

    # A sale that has not started yet never will; the closing job later gives all its units back.
    future = await create_sale(client, eggs, stock=5, starts_in=timedelta(hours=1))
    cancelled = (await client.post(f"/api/v1/flash-sales/{future['id']}/end", headers=OPS)).json()
    assert datetime.fromisoformat(cancelled["starts_at"]) < datetime.fromisoformat(cancelled["ends_at"])
    assert (await buy(client, future["id"], "c5")).json()["code"] == "FLASH_SALE_NOT_ACTIVE"
    closed = await close_ended_sales(app.state.db, flash, now=datetime.now(UTC) + timedelta(hours=1))
    assert {s.id: s.returned_to_product for s in closed} == {sale["id"]: 9, future["id"]: 5}
    assert await product_stock(client, eggs) == 49
    missing = await client.post("/api/v1/flash-sales/999999/end", headers=OPS)
    assert missing.status_code == 404 and missing.json()["code"] == "FLASH_SALE_NOT_FOUND"


async def test_ops_end_a_sale_now(orders_app: FastAPI, orders_client: httpx.AsyncClient) -> None:
    await check_ops_end_a_sale_now(orders_app, orders_client)


@pytest.mark.redis
async def test_ops_end_a_sale_now_on_redis(redis_orders_app: FastAPI, redis_client: httpx.AsyncClient) -> None:
    await check_ops_end_a_sale_now(redis_orders_app, redis_client)


async def test_an_unknown_query_parameter_refuses_a_purchase_before_anything_is_reserved(
    orders_client: httpx.AsyncClient,
) -> None:
    apples = await create_product(orders_client, stock=10)
    sale = await create_sale(orders_client, apples, stock=5, limit=5)
    path = f"/api/v1/flash-sales/{sale['id']}/orders"
    headers = {**customer("c1"), "Idempotency-Key": "quantity-in-the-query"}
    body = {"leader_id": LEADER, "quantity": 1}
    refused = await orders_client.post(path + "?quantity=5", json=body, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"loc": ["query", "quantity"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
    # Refused before the token is read, too: what the route cannot understand is answered the same to anyone.
    assert (await orders_client.post(path + "?quantity=5", json=body)).status_code == 422
    sale_now = (await orders_client.get(f"/api/v1/flash-sales/{sale['id']}", headers=OPS)).json()
    assert sale_now["remaining"] == 5
    # Nothing was reserved and the key is unused: the same purchase without the parameter buys one.
    bought = await orders_client.post(path, json=body, headers=headers)
    assert bought.status_code == 201, bought.text
    order = bought.json()
    assert order["lines"][0]["quantity"] == 1
    refused = await orders_client.get(f"/api/v1/orders/{order['id']}?x=1", headers=customer("c1"))
    assert refused.status_code == 422 and refused.json()["detail"] == "query.x: Extra inputs are not permitted"
    assert (await orders_client.get(f"/api/v1/orders/{order['id']}", headers=customer("c1"))).status_code == 200
