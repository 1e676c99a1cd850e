"""What orders publishes for the read model: every created order (flash-sale purchases included) as `order.placed`,
product names on paid lines, and `flash_sale.created`."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from services.orders.db import outbox
from tests.orders.conftest import create_product, pay, place_order
from tests.orders.test_flash_sales import buy, create_sale


async def published(app: FastAPI, type_: str) -> list[dict[str, Any]]:
    async with app.state.db.engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.table.c.data).where(outbox.table.c.type == type_).order_by(outbox.table.c.seq)
        )
        return [dict(row[0]) for row in rows]


async def test_every_order_is_published_as_placed_and_paid_lines_carry_product_names(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    apples = await create_product(orders_client, name="红富士苹果", stock=20)
    order = (await place_order(orders_client, [(apples, 2)])).json()
    sale = await create_sale(orders_client, apples, stock=5)
    flash_orders = [(await buy(orders_client, sale["id"], who)).json() for who in ("c1", "c2")]

    placed = await published(orders_app, "order.placed")
    assert [p["order_id"] for p in placed] == [order["id"], *(o["id"] for o in flash_orders)]
    assert placed[0]["lines"][0]["product_name"] == "红富士苹果" and placed[0]["flash_sale_id"] is None
    assert {p["flash_sale_id"] for p in placed[1:]} == {sale["id"]}
    assert [p["lines"][0]["line_id"] for p in placed[1:]] == [o["lines"][0]["id"] for o in flash_orders]

    [created] = await published(orders_app, "flash_sale.created")
    assert (created["flash_sale_id"], created["stock"], created["product_name"]) == (sale["id"], 5, "红富士苹果")

    await pay(orders_client, order)
    [paid] = await published(orders_app, "order.paid")
    assert paid["lines"][0]["product_name"] == "红富士苹果"
