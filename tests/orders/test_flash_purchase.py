"""The flash-sale purchase route: its answers, replays and refusals, and the batches it decides purchases in (the
same path on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from services.common.testing import bearer
from tests.orders.conftest import LEADER, OPS, create_product, customer
from tests.orders.test_flash_sales import buy, create_sale


async def post(client: httpx.AsyncClient, sale_id: int, *, headers: dict[str, str], content: bytes) -> httpx.Response:
    return await client.post(f"/api/v1/flash-sales/{sale_id}/orders", content=content, headers=headers)


async def test_a_purchase_replays_its_answer_and_a_key_reused_with_another_body_is_refused(
    orders_client: httpx.AsyncClient,
) -> None:
    apples = await create_product(orders_client, stock=50)
    sale = await create_sale(orders_client, apples, stock=5, limit=1)
    key = uuid.uuid4().hex
    headers = {**customer("lane"), "Idempotency-Key": key, "Content-Type": "application/json", "X-Request-Id": "r1"}
    body = f'{{"leader_id": "{LEADER}", "quantity": 1}}'.encode()
    first = await post(orders_client, sale["id"], headers=headers, content=body)
    assert first.status_code == 201, first.text
    assert first.headers["x-request-id"] == "r1"
    order = first.json()
    assert order["customer_id"] == "lane" and order["flash_sale_id"] == sale["id"]
    assert (await orders_client.get(f"/api/v1/orders/{order['id']}", headers=customer("lane"))).json() == order
    replay = await post(orders_client, sale["id"], headers=headers, content=body)
    assert replay.status_code == 201 and replay.json() == order and replay.headers["Idempotent-Replayed"] == "true"
    again = await post(orders_client, sale["id"], headers={**headers, "Idempotency-Key": "k2"}, content=body)
    assert again.status_code == 409 and again.json()["code"] == "FLASH_SALE_LIMIT_REACHED"
    assert again.headers["content-type"] == "application/problem+json"
    reused = await post(orders_client, sale["id"], headers=headers, content=body.replace(b"1}", b"2}"))
    assert reused.status_code == 409 and reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    missing = await post(orders_client, 999_999, headers={**headers, "Idempotency-Key": "k3"}, content=body)
    assert missing.status_code == 404 and missing.json()["code"] == "FLASH_SALE_NOT_FOUND"


async def test_malformed_purchases_are_refused_and_sell_nothing(orders_client: httpx.AsyncClient) -> None:
    apples = await create_product(orders_client, stock=50)
    sale = await create_sale(orders_client, apples, stock=5, limit=1)
    body = f'{{"leader_id": "{LEADER}", "quantity": 1}}'.encode()
    good = {**customer("c9"), "Content-Type": "application/json"}
    cases: list[tuple[dict[str, str], bytes, int, str]] = [
        ({"Idempotency-Key": "k"}, body, 401, "INVALID_TOKEN"),
        ({**good, "Authorization": "Bearer nope", "Idempotency-Key": "k"}, body, 401, "INVALID_TOKEN"),
        ({**OPS, "Idempotency-Key": "k"}, body, 403, "MISSING_ROLE"),
        (good, body, 422, "VALIDATION_ERROR"),
        ({**good, "Idempotency-Key": "has space"}, body, 422, "VALIDATION_ERROR"),
        ({**good, "Idempotency-Key": "k"}, b"not json", 422, "VALIDATION_ERROR"),
        ({**good, "Idempotency-Key": "k"}, b'{"leader_id": "L1", "quantity": "1"}', 422, "VALIDATION_ERROR"),
        ({**good, "Idempotency-Key": "k"}, b'{"leader_id": "L1", "extra": 1}', 422, "VALIDATION_ERROR"),
    ]
    for headers, content, status, code in cases:
        response = await post(orders_client, sale["id"], headers=headers, content=content)
        assert (response.status_code, response.json()["code"]) == (status, code), (headers, content, response.text)
        assert response.headers["x-request-id"]
    read = await orders_client.get(f"/api/v1/flash-sales/{sale['id']}", headers=OPS)
    assert read.json()["remaining"] == 5
    # Any JSON media type is a purchase.
    merge = {**good, "Content-Type": "application/merge-patch+json", "Idempotency-Key": "k"}
    bought = await post(orders_client, sale["id"], headers=merge, content=body)
    assert bought.status_code == 201, bought.text


async def test_a_buyer_with_leader_and_customer_roles_can_buy(orders_client: httpx.AsyncClient) -> None:
    apples = await create_product(orders_client, stock=50)
    sale = await create_sale(orders_client, apples, stock=5)
    headers = {**bearer("both", ["leader", "customer"]), "Idempotency-Key": uuid.uuid4().hex}
    response = await orders_client.post(
        f"/api/v1/flash-sales/{sale['id']}/orders", json={"leader_id": LEADER, "quantity": 1}, headers=headers
    )
    assert response.status_code == 201, response.text


async def test_every_order_of_a_batch_is_answered_with_its_own_body(orders_client: httpx.AsyncClient) -> None:
    apples = await create_product(orders_client, stock=100)
    sale = await create_sale(orders_client, apples, stock=50, limit=2)
    buyers = [f"batch-{i}" for i in range(20)]
    responses = await asyncio.gather(*(buy(orders_client, sale["id"], who, quantity=1 + i % 2)
                                       for i, who in enumerate(buyers)))  # fmt: skip
    for who, response in zip(buyers, responses, strict=True):
        assert response.status_code == 201, response.text
        order = response.json()
        assert order["customer_id"] == who
        stored = await orders_client.get(f"/api/v1/orders/{order['id']}", headers=customer(who))
        assert stored.json() == order
    assert len({r.json()["id"] for r in responses}) == len(buyers)
