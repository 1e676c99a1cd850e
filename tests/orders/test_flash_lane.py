"""The purchase lane answers well-formed purchases in front of FastAPI with the route's own pieces, and hands every
other request to the route, which gives it the one answer it always had."""

from __future__ import annotations

import re
import uuid
from typing import Any, get_args

import httpx
import orjson
import pytest
from fastapi import FastAPI

from services.common.testing import bearer
from services.orders.flash_sales import router
from services.orders.flash_sales.lane import ROUTE
from tests.orders.conftest import LEADER, create_product, customer, leader
from tests.orders.test_flash_sales import buy, create_sale


def _route_refuses_to_serve(app: FastAPI) -> None:
    """Make the FastAPI route fail if it is reached at all: a purchase answered 201 then came from the lane."""

    def not_here() -> None:
        raise AssertionError("the purchase reached the FastAPI route")

    dependency = get_args(router.FlashBuyer)[1].dependency
    app.dependency_overrides[dependency] = not_here


async def test_a_well_formed_purchase_is_answered_by_the_lane_and_replayed_by_it(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    sale = await create_sale(orders_client, await create_product(orders_client, stock=50), stock=5, limit=2)
    _route_refuses_to_serve(orders_app)
    first = await buy(orders_client, sale["id"], "c1", key="k-1")
    assert first.status_code == 201, first.text
    again = await buy(orders_client, sale["id"], "c1", key="k-1")
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["flash_sale_id"] == sale["id"] and first.json()["customer_id"] == "c1"

    metrics = (await orders_client.get("/metrics")).text
    assert re.search(
        rf'_count{{method="POST",route="{re.escape(ROUTE)}",service="orders",status="201"}} [1-9]', metrics
    )


async def test_refusals_from_the_sale_are_rendered_by_the_apps_handlers(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    sale = await create_sale(orders_client, await create_product(orders_client, stock=50), stock=5, limit=1)
    _route_refuses_to_serve(orders_app)
    assert (await buy(orders_client, sale["id"], "c1")).status_code == 201
    limited = await buy(orders_client, sale["id"], "c1")
    assert limited.status_code == 409 and limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["code"] == "FLASH_SALE_LIMIT_REACHED"
    reused = await buy(orders_client, sale["id"], "c1", quantity=2, key="same")
    assert reused.status_code == 409  # the per-user limit first, as the route decides it
    missing = await orders_client.post(
        "/api/v1/flash-sales/999/orders",
        json={"leader_id": LEADER, "quantity": 1},
        headers={**customer("c2"), "Idempotency-Key": "k"},
    )
    assert missing.status_code == 404 and missing.json()["code"] == "FLASH_SALE_NOT_FOUND"


async def test_an_unexpected_error_in_the_lane_is_the_usual_problem_with_the_request_id(
    orders_app: FastAPI, orders_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sale = await create_sale(orders_client, await create_product(orders_client, stock=50), stock=5)

    async def broken(*_args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(router, "purchase", broken)
    response = await orders_client.post(
        f"/api/v1/flash-sales/{sale['id']}/orders",
        json={"leader_id": LEADER, "quantity": 1},
        headers={**customer(), "Idempotency-Key": "k", "X-Request-Id": "rid-lane"},
    )
    assert response.status_code == 500 and response.headers["content-type"] == "application/problem+json"
    body = orjson.loads(response.content)
    assert body["code"] == "INTERNAL_ERROR" and body["request_id"] == "rid-lane" and "boom" not in response.text


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no token", 401, "INVALID_TOKEN"),
        ("bad token", 401, "INVALID_TOKEN"),
        ("a leader without the customer role", 403, "MISSING_ROLE"),
        ("no key", 422, "VALIDATION_ERROR"),
        ("a key with a space", 422, "VALIDATION_ERROR"),
        ("quantity 0", 422, "VALIDATION_ERROR"),
        ("an unknown field", 422, "VALIDATION_ERROR"),
        ("not JSON", 422, "VALIDATION_ERROR"),
        ("a form body", 422, "VALIDATION_ERROR"),
    ],
)
async def test_requests_the_route_refuses_go_to_the_route_and_get_its_answer(
    orders_client: httpx.AsyncClient, case: str, status: int, code: str
) -> None:
    sale = await create_sale(orders_client, await create_product(orders_client, stock=50), stock=5)
    path = f"/api/v1/flash-sales/{sale['id']}/orders"
    headers = {**customer(), "Idempotency-Key": uuid.uuid4().hex}
    body: bytes = orjson.dumps({"leader_id": LEADER, "quantity": 1})
    content_type = "application/json"
    if case == "no token":
        del headers["Authorization"]
    elif case == "bad token":
        headers["Authorization"] = "Bearer not-a-token"
    elif case == "a leader without the customer role":
        headers |= bearer("L9", ["leader"])
    elif case == "no key":
        del headers["Idempotency-Key"]
    elif case == "a key with a space":
        headers["Idempotency-Key"] = "two words"
    elif case == "quantity 0":
        body = orjson.dumps({"leader_id": LEADER, "quantity": 0})
    elif case == "an unknown field":
        body = orjson.dumps({"leader_id": LEADER, "quantity": 1, "price_fen": 1})
    elif case == "not JSON":
        body = b"{not json"
    elif case == "a form body":
        body, content_type = b"leader_id=L1&quantity=1", "application/x-www-form-urlencoded"
    response = await orders_client.post(path, content=body, headers=headers | {"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    # Nothing was bought by a refused request.
    orders = await orders_client.get("/api/v1/orders", headers=customer())
    assert orders.json()["items"] == []


async def test_a_query_string_goes_to_the_route(orders_app: FastAPI, orders_client: httpx.AsyncClient) -> None:
    sale = await create_sale(orders_client, await create_product(orders_client, stock=50), stock=5)
    _route_refuses_to_serve(orders_app)
    response = await orders_client.post(
        f"/api/v1/flash-sales/{sale['id']}/orders?quantity=5",
        json={"leader_id": LEADER, "quantity": 1},
        headers={**customer(), "Idempotency-Key": "k"},
    )
    # The route was reached: it refuses the parameter, or fails as it was made to; the lane would have sold.
    assert response.status_code in (422, 500), response.text


async def test_a_leader_who_is_also_a_customer_buys_through_the_lane(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    sale = await create_sale(orders_client, await create_product(orders_client, stock=50), stock=5)
    _route_refuses_to_serve(orders_app)
    response = await orders_client.post(
        f"/api/v1/flash-sales/{sale['id']}/orders",
        json={"leader_id": LEADER, "quantity": 1},
        headers={**leader("L5"), "Idempotency-Key": "k"},
    )
    assert response.status_code == 201, response.text
