from __future__ import annotations

from typing import Any

import pytest

from services.common.testing import bearer
from services.common.types import MAX_FEN

OPS = bearer("ops1", ["ops"])
CUSTOMER = bearer("c1", ["customer"])

APPLES = {"name": "  Apples 5kg  ", "price_fen": 2990, "stock": 100, "category": "fruit"}


async def create(client: Any, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    return await client.post("/api/v1/products", json=body or APPLES, headers=headers or OPS)


async def test_ops_creates_product_and_anyone_signed_in_reads_it(orders_client: Any) -> None:
    created = await create(orders_client)
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["name"] == "Apples 5kg"  # trimmed
    assert product["price_fen"] == 2990 and product["stock"] == 100

    read = await orders_client.get(f"/api/v1/products/{product['id']}", headers=CUSTOMER)
    assert read.status_code == 200
    assert read.json() == product


async def test_customer_cannot_create_a_product(orders_client: Any) -> None:
    response = await create(orders_client, headers=CUSTOMER)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "MISSING_PERMISSION"


async def test_reading_products_needs_a_token(orders_client: Any) -> None:
    response = await orders_client.get("/api/v1/products")
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"


@pytest.mark.parametrize("field", ["price_fen", "stock"])
@pytest.mark.parametrize("value", ["100", True, 1.5, -1, 2**63, None, [1]])
async def test_money_and_stock_fields_refuse_anything_but_a_plain_integer(
    orders_client: Any, field: str, value: Any
) -> None:
    response = await create(orders_client, {**APPLES, field: value})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "VALIDATION_ERROR"
    assert problem["errors"][0]["loc"][-1] == field
    listing = await orders_client.get("/api/v1/products", headers=OPS)
    assert listing.json()["items"] == []  # nothing half-written


async def test_largest_price_is_accepted_and_one_fen_more_is_not(orders_client: Any) -> None:
    response = await create(orders_client, {**APPLES, "price_fen": MAX_FEN})
    assert response.status_code == 201
    assert response.json()["price_fen"] == MAX_FEN
    assert (await create(orders_client, {**APPLES, "price_fen": MAX_FEN + 1})).status_code == 422


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
async def test_product_name_is_trimmed_and_bounded(orders_client: Any, name: str) -> None:
    response = await create(orders_client, {**APPLES, "name": name})
    assert response.status_code == 422


async def test_unknown_fields_are_refused(orders_client: Any) -> None:
    response = await create(orders_client, {**APPLES, "colour": "red"})
    assert response.status_code == 422


async def test_patch_changes_only_what_was_sent(orders_client: Any) -> None:
    product = (await create(orders_client)).json()
    response = await orders_client.patch(
        f"/api/v1/products/{product['id']}", json={"stock": 7, "category": None}, headers=OPS
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["stock"] == 7 and changed["category"] is None
    assert changed["name"] == product["name"] and changed["price_fen"] == product["price_fen"]


async def test_patch_cannot_null_a_required_field(orders_client: Any) -> None:
    product = (await create(orders_client)).json()
    response = await orders_client.patch(f"/api/v1/products/{product['id']}", json={"name": None}, headers=OPS)
    assert response.status_code == 422


async def test_patch_by_customer_is_forbidden(orders_client: Any) -> None:
    product = (await create(orders_client)).json()
    response = await orders_client.patch(f"/api/v1/products/{product['id']}", json={"stock": 1}, headers=CUSTOMER)
    assert response.status_code == 403


async def test_unknown_product_is_a_404_problem(orders_client: Any) -> None:
    response = await orders_client.get("/api/v1/products/999", headers=CUSTOMER)
    assert response.status_code == 404
    assert response.json()["code"] == "PRODUCT_NOT_FOUND"


async def test_listing_pages_with_a_cursor(orders_client: Any) -> None:
    ids = [(await create(orders_client, {**APPLES, "name": f"p{i}"})).json()["id"] for i in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await orders_client.get("/api/v1/products", params=params, headers=CUSTOMER)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


async def test_a_forged_cursor_is_a_422_problem(orders_client: Any) -> None:
    response = await orders_client.get("/api/v1/products", params={"cursor": "bm90LWEtbGlzdA"}, headers=CUSTOMER)
    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_CURSOR"


async def test_idempotency_key_replays_the_first_response(orders_client: Any) -> None:
    headers = {**OPS, "Idempotency-Key": "create-apples-1"}
    first = await create(orders_client, headers=headers)
    second = await create(orders_client, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    listing = await orders_client.get("/api/v1/products", headers=OPS)
    assert len(listing.json()["items"]) == 1


async def test_idempotency_key_with_another_body_is_409(orders_client: Any) -> None:
    headers = {**OPS, "Idempotency-Key": "create-apples-2"}
    await create(orders_client, headers=headers)
    other = await create(orders_client, {**APPLES, "price_fen": 1}, headers=headers)
    assert other.status_code == 409
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_same_key_from_another_user_is_a_different_request(orders_client: Any) -> None:
    key = {"Idempotency-Key": "shared-key"}
    a = await create(orders_client, headers={**OPS, **key})
    b = await create(orders_client, headers={**bearer("ops2", ["ops"]), **key})
    assert a.json()["id"] != b.json()["id"]


async def test_failed_request_does_not_consume_its_idempotency_key(orders_client: Any) -> None:
    headers = {**OPS, "Idempotency-Key": "k-fail"}
    bad = await orders_client.post("/api/v1/products", json={**APPLES, "stock": -1}, headers=headers)
    assert bad.status_code == 422
    good = await create(orders_client, headers=headers)
    assert good.status_code == 201
