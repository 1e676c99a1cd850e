"""Sold-out purchases are answered before FastAPI (no auth, no body parsing, no database), with the same 409."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from sqlalchemy import event

from services.orders.flash_sales.exceptions import FlashSaleSoldOut
from services.orders.flash_sales.lane import BODY, sale_id_of
from tests.orders.conftest import create_product
from tests.orders.test_flash_sales import buy, create_sale


def test_only_purchase_paths_name_a_sale() -> None:
    assert sale_id_of("/api/v1/flash-sales/42/orders") == 42
    for path in ("/api/v1/flash-sales/42", "/api/v1/flash-sales//orders", "/api/v1/flash-sales/4x/orders",
                 "/api/v1/flash-sales/٤٢/orders", "/api/v1/flash-sales/42/orders/1", "/api/v1/orders",
                 "/api/v1/flash-sales/" + "9" * 20 + "/orders"):  # fmt: skip
        assert sale_id_of(path) is None, path


async def test_sold_out_is_answered_before_auth_and_body_parsing_without_the_database(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    apples = await create_product(orders_client, stock=50)
    sale = await create_sale(orders_client, apples, stock=1)
    other = await create_sale(orders_client, apples, stock=5)
    assert (await buy(orders_client, sale["id"], "c1")).status_code == 201
    # The route learns the sale is sold out and answers through FastAPI's error handler: the reference answer.
    learned = await buy(orders_client, sale["id"], "c2")
    assert learned.status_code == 409

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = orders_app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        fast = await buy(orders_client, sale["id"], "c3")
        # Neither a token nor a valid body is looked at: the answer is the same for everyone.
        anonymous = await orders_client.post(
            f"/api/v1/flash-sales/{sale['id']}/orders", content=b"not json", headers={"X-Request-Id": "rid-42"}
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []
    for response in (fast, anonymous):
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.content == learned.content == BODY
        assert orjson.loads(response.content)["code"] == FlashSaleSoldOut.code
        assert response.headers["x-request-id"]
    assert anonymous.headers["x-request-id"] == "rid-42"

    # Everything else still goes through the app: another sale, and the sold-out sale's other routes.
    assert (await buy(orders_client, other["id"], "c3")).status_code == 201
    unauthenticated = await orders_client.post(f"/api/v1/flash-sales/{other['id']}/orders", json={})
    assert unauthenticated.status_code == 401
    read = await orders_client.get(f"/api/v1/flash-sales/{sale['id']}", headers={"Authorization": "x"})
    assert read.status_code == 401


async def test_a_returned_unit_clears_the_shortcut(orders_app: FastAPI, orders_client: httpx.AsyncClient) -> None:
    apples = await create_product(orders_client, stock=50)
    sale = await create_sale(orders_client, apples, stock=1)
    assert (await buy(orders_client, sale["id"], "c1")).status_code == 201
    assert (await buy(orders_client, sale["id"], "c2")).status_code == 409
    orders_app.state.inventory.clear_sold_out(sale["id"])  # what a cancellation in this process does
    again = await buy(orders_client, sale["id"], "c2", key=uuid.uuid4().hex)
    # Decided afresh by the route (the database still says sold out), and the flag is set again.
    assert again.status_code == 409 and again.content == BODY
    assert orders_app.state.inventory.known_sold_out(sale["id"])
