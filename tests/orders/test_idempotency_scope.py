"""Idempotency keys are scoped by their concrete target: the same key sent to another flash sale is a purchase in
that sale, never a replay of the first sale's order; sent to another order, it refunds that order."""

from __future__ import annotations

import uuid

import httpx

from tests.orders.conftest import create_product, customer, new_order, pay
from tests.orders.test_flash_sales import buy, create_sale


async def test_the_same_key_on_another_flash_sale_buys_in_that_sale(orders_client: httpx.AsyncClient) -> None:
    apples = await create_product(orders_client, stock=50)
    pears = await create_product(orders_client, stock=50, name="Pears")
    first_sale = await create_sale(orders_client, apples, stock=5)
    second_sale = await create_sale(orders_client, pears, stock=5)
    key = uuid.uuid4().hex
    first = await buy(orders_client, first_sale["id"], key=key)
    assert first.status_code == 201, first.text
    second = await buy(orders_client, second_sale["id"], key=key)
    assert second.status_code == 201, second.text
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["flash_sale_id"] == second_sale["id"]
    assert second.json()["id"] != first.json()["id"]
    remaining = [
        (await orders_client.get(f"/api/v1/flash-sales/{s['id']}", headers=customer())).json()["remaining"]
        for s in (first_sale, second_sale)
    ]
    assert remaining == [4, 4]
    # Within one sale the key still replays, whichever way the id is written.
    replay = await buy(orders_client, first_sale["id"], key=key)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    padded = await orders_client.post(
        f"/api/v1/flash-sales/00{first_sale['id']}/orders",
        json={"leader_id": "L1", "quantity": 1},
        headers={**customer(), "Idempotency-Key": key},
    )
    assert padded.headers.get("Idempotent-Replayed") == "true" and padded.json() == first.json()


async def test_the_same_key_refunds_each_order_it_is_sent_to(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client, stock=50)
    orders = [await pay(orders_client, await new_order(orders_client, [(eggs, 1)])) for _ in range(2)]
    key = uuid.uuid4().hex
    refunds = []
    for order in orders:
        body = {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "changed my mind"}
        response = await orders_client.post(
            f"/api/v1/orders/{order['id']}/refunds", json=body, headers={**customer(), "Idempotency-Key": key}
        )
        assert response.status_code == 201, response.text
        refunds.append(response.json())
    assert [r["order_id"] for r in refunds] == [o["id"] for o in orders]
