"""Fixtures of the orders tests: the app with in-memory leaders/points/refund provider, and small API helpers."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text, update
from sqlmodel import col

from services.common.testing import asgi_client, bearer
from services.orders.orders.models import Order
from services.orders.payment_provider import FakeRefundProvider, sign
from tests.conftest import AppFactory
from tests.orders.fakes import FakeLeaders, FakePoints

PAYMENT_SECRET = "test-payment-secret-0123456789"
OPS = bearer("ops1", ["ops"])
LEADER = "L1"
OTHER_LEADER = "L2"


def customer(sub: str = "c1") -> dict[str, str]:
    return bearer(sub, ["customer"])


def leader(sub: str = LEADER) -> dict[str, str]:
    return bearer(sub, ["leader", "customer"])


async def build_orders_app(make_app: AppFactory, **overrides: Any) -> FastAPI:
    app = await make_app("orders", payment_secret=PAYMENT_SECRET, **overrides)
    leaders = FakeLeaders()
    leaders.add(LEADER)
    leaders.add(OTHER_LEADER)
    leaders.add("SUSPENDED", status="suspended")
    app.state.leaders = leaders
    app.state.points = FakePoints(balances={"c1": 10_000, "c2": 10_000})
    app.state.refund_provider = FakeRefundProvider()
    return app


@pytest.fixture
async def orders_app(make_app: AppFactory) -> FastAPI:
    return await build_orders_app(make_app)


@pytest.fixture
async def redis_orders_app(make_app: AppFactory) -> AsyncIterator[FastAPI]:
    url = os.environ["TEST_REDIS_URL"]
    prefix = f"test-{uuid.uuid4().hex[:12]}"  # sale ids restart per test; the prefix keeps their keys apart
    app = await build_orders_app(make_app, redis_url=url, redis_prefix=prefix)
    yield app
    redis = app.state.inventory.redis
    keys = [k async for k in redis.client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.client.delete(*keys)
    await app.state.inventory.aclose()


@pytest.fixture
async def redis_client(redis_orders_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(redis_orders_app) as client:
        yield client


async def create_product(
    client: httpx.AsyncClient, *, price_fen: int = 1000, stock: int = 10, name: str = "Eggs"
) -> int:
    response = await client.post(
        "/api/v1/products", json={"name": name, "price_fen": price_fen, "stock": stock}, headers=OPS
    )
    assert response.status_code == 201, response.text
    product_id: int = response.json()["id"]
    return product_id


async def product_stock(client: httpx.AsyncClient, product_id: int) -> int:
    stock: int = (await client.get(f"/api/v1/products/{product_id}", headers=OPS)).json()["stock"]
    return stock


async def place_order(
    client: httpx.AsyncClient,
    lines: list[tuple[int, int]],
    *,
    points: int = 0,
    who: str = "c1",
    key: str | None = None,
    leader_id: str = LEADER,
) -> httpx.Response:
    body = {"leader_id": leader_id, "lines": [{"product_id": p, "quantity": q} for p, q in lines], "points": points}
    headers = {**customer(who), "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post("/api/v1/orders", json=body, headers=headers)


async def new_order(client: httpx.AsyncClient, lines: list[tuple[int, int]], **kwargs: Any) -> dict[str, Any]:
    response = await place_order(client, lines, **kwargs)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


async def notify_payment(
    client: httpx.AsyncClient,
    order_id: int,
    amount_fen: int,
    *,
    transaction_id: str | None = None,
    secret: str = PAYMENT_SECRET,
    signature: str | None = None,
) -> httpx.Response:
    raw = orjson.dumps(
        {"order_id": order_id, "transaction_id": transaction_id or f"tx-{uuid.uuid4().hex}", "amount_fen": amount_fen}
    )
    headers = {"content-type": "application/json", "X-Payment-Signature": signature or sign(raw, secret)}
    return await client.post("/api/v1/payments/notify", content=raw, headers=headers)


async def pay(client: httpx.AsyncClient, order: dict[str, Any]) -> dict[str, Any]:
    response = await notify_payment(client, order["id"], order["payable_fen"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "captured"
    return await get_order(client, order)


async def get_order(client: httpx.AsyncClient, order: dict[str, Any], who: str | None = None) -> dict[str, Any]:
    response = await client.get(f"/api/v1/orders/{order['id']}", headers=customer(who or order["customer_id"]))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def outbox_events(app: FastAPI, type_: str | None = None) -> list[dict[str, Any]]:
    async with app.state.db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT type, aggregate, data FROM outbox ORDER BY seq"))).all()
    events = []
    for type_name, aggregate, data in rows:
        payload = orjson.loads(data) if isinstance(data, (str, bytes)) else data
        events.append({"type": type_name, "aggregate": aggregate, "data": payload})
    return [e for e in events if type_ is None or e["type"] == type_]


async def expire_order(app: FastAPI, order_id: int) -> None:
    """Pretend the payment time of an order ran out (the job compares it with the app clock, which is real here)."""
    async with app.state.db.sessionmaker() as session, session.begin():
        await session.exec(
            update(Order).where(col(Order.id) == order_id).values(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        )
