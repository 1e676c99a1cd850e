"""The development shortcut: `POST /api/v1/dev/orders/{id}/pay` pays an order through the same code as a verified
notification, and only while `ORDERS_DEV_PAYMENTS` is on."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import asgi_client
from tests.conftest import AppFactory
from tests.orders.conftest import OPS, build_orders_app, create_product, customer, get_order, new_order, outbox_events


@pytest.fixture
async def dev_app(make_app: AppFactory) -> FastAPI:
    return await build_orders_app(make_app, dev_payments=True)


async def test_the_dev_endpoint_is_off_unless_development_payments_are_on(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client)
    order = await new_order(orders_client, [(eggs, 1)])
    response = await orders_client.post(f"/api/v1/dev/orders/{order['id']}/pay", headers=customer())
    assert response.status_code == 404
    assert (await get_order(orders_client, order))["status"] == "pending_payment"


async def test_the_dev_endpoint_pays_like_a_verified_notification(dev_app: FastAPI) -> None:
    async with asgi_client(dev_app) as client:
        eggs = await create_product(client, price_fen=700)
        order = await new_order(client, [(eggs, 2)])
        stranger = await client.post(f"/api/v1/dev/orders/{order['id']}/pay", headers=customer("c2"))
        assert stranger.status_code == 404
        paid = await client.post(f"/api/v1/dev/orders/{order['id']}/pay", headers=customer())
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "captured" and paid.json()["source"] == "dev"
        assert paid.json()["amount_fen"] == 1400
        assert (await get_order(client, order))["status"] == "paid"
        [event] = await outbox_events(dev_app, "order.paid")
        assert event["data"]["paid_fen"] == 1400
        again = await client.post(f"/api/v1/dev/orders/{order['id']}/pay", headers=customer())
        assert again.status_code == 409 and again.json()["code"] == "ORDER_NOT_PAYABLE"
        listed = (await client.get("/api/v1/payments", headers=OPS)).json()["items"]
        assert len(listed) == 1


async def test_the_fake_provider_gives_payment_parameters_too(orders_client: httpx.AsyncClient) -> None:
    eggs = await create_product(orders_client)
    order = await new_order(orders_client, [(eggs, 1)])
    first = await orders_client.post(f"/api/v1/orders/{order['id']}/payment", headers=customer())
    assert first.status_code == 200, first.text
    second = await orders_client.post(f"/api/v1/orders/{order['id']}/payment", headers=customer())
    assert second.json()["prepay_id"] == first.json()["prepay_id"]
    wechat_notify = await orders_client.post("/api/v1/payments/wechat/notify", content=b"{}")
    assert wechat_notify.status_code == 404
