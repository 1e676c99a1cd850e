"""Caps on what one customer holds unpaid: orders waiting for payment and their units. Parallel orders by one
customer hold at most the caps (the same test runs on SQLite and, with TEST_POSTGRES_URL, on PostgreSQL with real
parallel connections); paying, cancelling or expiring an order gives its slot back."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi import FastAPI

from services.common.testing import asgi_client
from services.orders.orders.jobs import payment_timeout_job
from tests.conftest import AppFactory
from tests.orders.conftest import (
    build_orders_app,
    create_product,
    customer,
    expire_order,
    new_order,
    pay,
    place_order,
    product_stock,
)
from tests.orders.test_flash_sales import buy, create_sale


async def test_a_hundred_parallel_orders_by_one_customer_hold_at_most_the_cap(
    orders_client: httpx.AsyncClient,
) -> None:
    eggs = await create_product(orders_client, stock=5000)
    responses = await asyncio.gather(*(place_order(orders_client, [(eggs, 50)], who="hoarder") for _ in range(100)))
    placed = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    # The default caps are 5 orders and 200 units: four orders of 50 reach the unit cap first.
    assert len(placed) == 4, [r.text for r in responses[:5]]
    assert {(r.status_code, r.json()["code"]) for r in refused} == {(409, "TOO_MANY_UNPAID_UNITS")}
    assert all(r.headers["content-type"] == "application/problem+json" for r in refused)
    assert await product_stock(orders_client, eggs) == 5000 - 4 * 50
    # Another customer is not affected.
    assert (await place_order(orders_client, [(eggs, 1)], who="neighbour")).status_code == 201


async def test_parallel_small_orders_stop_at_the_order_cap(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, stock=5000)
    responses = await asyncio.gather(*(place_order(orders_client, [(eggs, 1)], who="hoarder") for _ in range(100)))
    assert sum(r.status_code == 201 for r in responses) == 5
    codes = {(r.status_code, r.json()["code"]) for r in responses if r.status_code != 201}
    assert codes == {(409, "TOO_MANY_UNPAID_ORDERS")}
    assert await product_stock(orders_client, eggs) == 5000 - 5


async def test_one_order_above_the_unit_cap_is_refused_and_takes_nothing(make_app: AppFactory) -> None:
    app = await build_orders_app(make_app, max_unpaid_units_per_customer=60)
    async with asgi_client(app) as client:
        eggs = await create_product(client, stock=500)
        milk = await create_product(client, stock=500, name="Milk")
        too_big = await place_order(client, [(eggs, 40), (milk, 21)])
        assert too_big.status_code == 409 and too_big.json()["code"] == "TOO_MANY_UNPAID_UNITS"
        await new_order(client, [(eggs, 40)])
        second = await place_order(client, [(milk, 21)])
        assert second.status_code == 409 and second.json()["code"] == "TOO_MANY_UNPAID_UNITS"
        await new_order(client, [(milk, 20)])
        assert await product_stock(client, eggs) == 460 and await product_stock(client, milk) == 480


async def test_paying_cancelling_and_expiring_give_the_slot_back(make_app: AppFactory) -> None:
    app: FastAPI = await build_orders_app(make_app, max_unpaid_orders_per_customer=2)
    async with asgi_client(app) as client:
        eggs = await create_product(client, stock=100)
        first = await new_order(client, [(eggs, 1)])
        second = await new_order(client, [(eggs, 1)])
        refused = await place_order(client, [(eggs, 1)])
        assert refused.status_code == 409 and refused.json()["code"] == "TOO_MANY_UNPAID_ORDERS"

        await pay(client, first)
        third = await new_order(client, [(eggs, 1)])
        assert (await place_order(client, [(eggs, 1)])).status_code == 409

        cancelled = await client.post(f"/api/v1/orders/{second['id']}/cancel", headers=customer())
        assert cancelled.status_code == 200, cancelled.text
        await new_order(client, [(eggs, 1)])
        assert (await place_order(client, [(eggs, 1)])).status_code == 409

        await expire_order(app, third["id"])
        assert await payment_timeout_job(app) == 1
        await new_order(client, [(eggs, 1)])
        assert (await place_order(client, [(eggs, 1)])).status_code == 409
        # A cancel that loses (the order is already cancelled) gives nothing back twice.
        again = await client.post(f"/api/v1/orders/{second['id']}/cancel", headers=customer())
        assert again.status_code == 409
        assert (await place_order(client, [(eggs, 1)])).status_code == 409


async def test_flash_sale_orders_are_bounded_by_their_sale_not_by_the_cap(make_app: AppFactory) -> None:
    app = await build_orders_app(make_app, max_unpaid_orders_per_customer=1)
    async with asgi_client(app) as client:
        eggs = await create_product(client, stock=100)
        await new_order(client, [(eggs, 1)])
        sale = await create_sale(client, eggs, stock=10, limit=2)
        bought = await buy(client, sale["id"], quantity=2)
        assert bought.status_code == 201, bought.text
        # Its per-buyer limit bounds what one account holds of the sale.
        assert (await buy(client, sale["id"])).json()["code"] == "FLASH_SALE_LIMIT_REACHED"
        # Paying the flash order does not free a regular slot it never took.
        await pay(client, bought.json())
        refused = await place_order(client, [(eggs, 1)], key=uuid.uuid4().hex)
        assert refused.status_code == 409 and refused.json()["code"] == "TOO_MANY_UNPAID_ORDERS"
