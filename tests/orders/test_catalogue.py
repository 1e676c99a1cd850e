"""The catalogue: categories, products with SKUs and a gallery, shelf status, cost prices for staff only, price
history, and name search in Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.common.testing import bearer
from services.orders.orders.pickup import next_pickup_date
from tests.orders.conftest import OPS, customer, new_order, place_order

CATALOGUE = bearer("editor", ["catalogue"])
FINANCE = bearer("cashier", ["finance"])


async def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def apples(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "红富士苹果",
        "price_fen": 3990,
        "stock": 0,
        "unit": "箱",
        "origin": "烟台",
        "description": "脆甜多汁",
        "images": ["https://img.example/a1.jpg", "https://img.example/a2.jpg"],
        "cost_fen": 3000,
        "skus": [
            {"name": "5斤装", "price_fen": 3990, "stock": 20, "cost_fen": 3000},
            {"name": "10斤装", "price_fen": 6990, "stock": 10, "cost_fen": 5200},
        ],
        **extra,
    }
    return await created(await client.post("/api/v1/products", json=body, headers=CATALOGUE))


async def test_catalogue_staff_build_a_category_tree_and_file_products_under_it(
    orders_client: httpx.AsyncClient,
) -> None:
    fruit = await created(await orders_client.post("/api/v1/categories", json={"name": "水果"}, headers=CATALOGUE))
    pome = await created(
        await orders_client.post("/api/v1/categories", json={"name": "苹果梨", "parent_id": fruit["id"]}, headers=OPS)
    )
    veg = await created(await orders_client.post("/api/v1/categories", json={"name": "蔬菜"}, headers=CATALOGUE))
    product = await apples(orders_client, category_id=pome["id"])
    tree = (await orders_client.get("/api/v1/categories", headers=customer())).json()
    assert [(n["name"], [c["name"] for c in n["children"]]) for n in tree] == [("水果", ["苹果梨"]), ("蔬菜", [])]
    # A filter by a category includes the products of the categories below it.
    under_fruit = await orders_client.get("/api/v1/products", params={"category_id": fruit["id"]}, headers=customer())
    assert [p["id"] for p in under_fruit.json()["items"]] == [product["id"]]
    under_veg = await orders_client.get("/api/v1/products", params={"category_id": veg["id"]}, headers=customer())
    assert under_veg.json()["items"] == []
    cycle = await orders_client.patch(f"/api/v1/categories/{fruit['id']}", json={"parent_id": pome["id"]}, headers=OPS)
    assert cycle.status_code == 409 and cycle.json()["code"] == "CATEGORY_CYCLE"
    refused = await orders_client.post("/api/v1/categories", json={"name": "x"}, headers=customer())
    assert refused.status_code == 403


async def test_cost_prices_are_shown_to_catalogue_staff_only(orders_client: httpx.AsyncClient) -> None:
    product = await apples(orders_client)
    assert product["cost_fen"] == 3000 and [s["cost_fen"] for s in product["skus"]] == [3000, 5200]
    assert product["images"] == ["https://img.example/a1.jpg", "https://img.example/a2.jpg"]
    for headers in (customer(), FINANCE):
        seen = (await orders_client.get(f"/api/v1/products/{product['id']}", headers=headers)).json()
        assert seen["cost_fen"] is None and [s["cost_fen"] for s in seen["skus"]] == [None, None]
        assert [s["name"] for s in seen["skus"]] == ["5斤装", "10斤装"]


async def test_customers_see_only_what_is_on_shelf_and_archiving_is_for_good(orders_client: httpx.AsyncClient) -> None:
    product = await apples(orders_client)
    url = f"/api/v1/products/{product['id']}"
    assert (await orders_client.patch(url, json={"status": "off_shelf"}, headers=CATALOGUE)).status_code == 200
    assert (await orders_client.get(url, headers=customer())).status_code == 404
    assert (await orders_client.get("/api/v1/products", headers=customer())).json()["items"] == []
    assert (await orders_client.get(url, headers=CATALOGUE)).json()["status"] == "off_shelf"
    archived = await orders_client.patch(url, json={"status": "archived"}, headers=CATALOGUE)
    assert archived.status_code == 200
    again = await orders_client.patch(url, json={"status": "on_shelf"}, headers=CATALOGUE)
    assert again.status_code == 409 and again.json()["code"] == "PRODUCT_ARCHIVED"
    listed = await orders_client.get("/api/v1/products", params={"status": "archived"}, headers=CATALOGUE)
    assert [p["id"] for p in listed.json()["items"]] == [product["id"]]


async def test_price_history_keeps_every_price_and_cost_set(orders_client: httpx.AsyncClient) -> None:
    product = await apples(orders_client)
    url = f"/api/v1/products/{product['id']}"
    sku = product["skus"][0]["id"]
    await orders_client.patch(url, json={"price_fen": 4290}, headers=CATALOGUE)
    await orders_client.patch(f"{url}/skus/{sku}", json={"price_fen": 3590, "cost_fen": 2900}, headers=CATALOGUE)
    await orders_client.patch(url, json={"name": "烟台红富士苹果"}, headers=CATALOGUE)  # not a price: no entry
    history = (await orders_client.get(f"{url}/price-history", headers=CATALOGUE)).json()
    assert history["total"] == 5
    assert [(h["sku_id"], h["price_fen"], h["cost_fen"]) for h in history["items"][:2]] == [
        (sku, 3590, 2900),
        (None, 4290, 3000),
    ]
    assert (await orders_client.get(f"{url}/price-history", headers=customer())).status_code == 403


@pytest.mark.parametrize("q", ["苹果", "富士苹", "红富士苹果", "果", "FUJI", "fuji"])
async def test_search_finds_chinese_and_latin_names_by_any_part(orders_client: httpx.AsyncClient, q: str) -> None:
    fuji = await apples(orders_client, name="红富士苹果 Fuji")
    await apples(orders_client, name="赣南脐橙")
    found = await orders_client.get("/api/v1/products", params={"q": q}, headers=customer())
    assert found.status_code == 200, found.text
    assert [p["id"] for p in found.json()["items"]] == [fuji["id"]]


async def test_search_follows_renames_and_treats_wildcards_as_text(orders_client: httpx.AsyncClient) -> None:
    product = await apples(orders_client, name="100%纯果汁")
    await orders_client.patch(f"/api/v1/products/{product['id']}", json={"name": "鲜榨橙汁"}, headers=CATALOGUE)
    for q, hits in (("橙汁", 1), ("鲜榨橙", 1), ("纯果汁", 0), ("果汁", 0), ("%", 0), ("_榨_", 0)):
        found = await orders_client.get("/api/v1/products", params={"q": q}, headers=customer())
        assert len(found.json()["items"]) == hits, q


async def test_an_order_names_the_sku_of_a_product_with_several(orders_client: httpx.AsyncClient) -> None:
    product = await apples(orders_client)
    big = product["skus"][1]
    missing = await place_order(orders_client, [(product["id"], 1)])
    assert missing.status_code == 422 and missing.json()["code"] == "SKU_REQUIRED"
    body = {"leader_id": "L1", "lines": [{"product_id": product["id"], "sku_id": big["id"], "quantity": 2}]}
    order = await orders_client.post(
        "/api/v1/orders", json=body, headers={**customer(), "Idempotency-Key": "sku-order-1"}
    )
    assert order.status_code == 201, order.text
    line = order.json()["lines"][0]
    assert (line["sku_id"], line["sku_name"], line["unit_price_fen"]) == (big["id"], "10斤装", 6990)
    stock = (await orders_client.get(f"/api/v1/products/{product['id']}", headers=OPS)).json()["skus"][1]["stock"]
    assert stock == 8
    cancelled = await orders_client.post(f"/api/v1/orders/{order.json()['id']}/cancel", headers=customer())
    assert cancelled.status_code == 200
    stock = (await orders_client.get(f"/api/v1/products/{product['id']}", headers=OPS)).json()["skus"][1]["stock"]
    assert stock == 10


async def test_off_shelf_and_archived_products_cannot_be_ordered(orders_client: httpx.AsyncClient) -> None:
    for status in ("off_shelf", "archived"):
        plain = await created(
            await orders_client.post(
                "/api/v1/products", json={"name": "鸡蛋", "price_fen": 100, "stock": 5}, headers=OPS
            )
        )
        assert plain["status"] == "on_shelf"  # created without a status: on shelf
        await new_order(orders_client, [(plain["id"], 1)])
        await orders_client.patch(f"/api/v1/products/{plain['id']}", json={"status": status}, headers=OPS)
        refused = await place_order(orders_client, [(plain["id"], 1)])
        assert refused.status_code == 409 and refused.json()["code"] == "PRODUCT_NOT_ON_SALE", refused.text


async def test_an_order_outside_a_group_buy_is_picked_up_the_day_after_the_next_cutoff(
    orders_client: httpx.AsyncClient,
) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    before = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # 21:00 local, before the 22:00 cut-off
    after = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)  # 22:30 local
    assert next_pickup_date(before, shanghai, time(22, 0)).isoformat() == "2026-03-11"
    assert next_pickup_date(after, shanghai, time(22, 0)).isoformat() == "2026-03-12"
    plain = await created(
        await orders_client.post("/api/v1/products", json={"name": "牛奶", "price_fen": 100, "stock": 5}, headers=OPS)
    )
    order = await new_order(orders_client, [(plain["id"], 1)])
    now = datetime.now(UTC)
    assert order["pickup_date"] == next_pickup_date(now, shanghai, time(22, 0)).isoformat() or (
        order["pickup_date"] == next_pickup_date(now - timedelta(minutes=1), shanghai, time(22, 0)).isoformat()
    )
