"""Shortages at receipt: the leader reports units missing or damaged, the batch's orders are refunded for exactly
those units by one deterministic rule, and ops read the day's report per batch and product."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from services.common.clock import local_date, utcnow
from services.common.testing import asgi_client, bearer
from services.orders.delivery.jobs import run_cutoff
from services.orders.orders.models import Order
from tests.conftest import AppFactory
from tests.orders.conftest import OPS, build_orders_app, create_product, customer, get_order, leader, new_order, pay

TZ = ZoneInfo("Asia/Shanghai")


async def batched(app: FastAPI, client: httpx.AsyncClient, buys: list[tuple[str, list[tuple[int, int]]]]) -> Any:
    """Orders paid in the order given (one minute apart), then batched by tomorrow's cut-off."""
    orders = []
    for who, lines in buys:
        orders.append(await pay(client, await new_order(client, lines, who=who)))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with app.state.db.sessionmaker() as session, session.begin():
        for n, order in enumerate(orders):
            paid_at = start + timedelta(minutes=n)
            await session.exec(update(Order).where(col(Order.id) == order["id"]).values(paid_at=paid_at))
    await run_cutoff(app.state.db, tz=TZ, cutoff=time(0, 0), now=app.state.clock() + timedelta(days=1))
    [batch] = (await client.get("/api/v1/delivery-batches", headers=leader())).json()["items"]
    return orders, batch["id"]


def receive(client: httpx.AsyncClient, batch_id: int, shortages: list[tuple[int, int, str]] | None) -> Any:
    body = (
        None
        if shortages is None
        else {"shortages": [{"product_id": p, "quantity": q, "kind": k} for p, q, k in shortages]}
    )
    return client.post(f"/api/v1/delivery-batches/{batch_id}/receive", json=body, headers=leader())


async def refunded(client: httpx.AsyncClient, order: dict[str, Any]) -> dict[int, int]:
    current = await get_order(client, order)
    return {line["product_id"]: line["refunded_quantity"] for line in current["lines"]}


@pytest.fixture
async def app(make_app: AppFactory) -> FastAPI:
    app = await build_orders_app(make_app, delivery_cutoff="00:00")
    # The orders' pickup date, tomorrow's cut-off and the day a shortage is reported on all follow from one moment,
    # so a test that runs across midnight in Shanghai still finds its report on the day it asks for.
    moment = utcnow()
    app.state.clock = lambda: moment
    return app


async def test_two_missing_apples_are_refunded_from_the_earliest_paid_orders_and_reported(app: FastAPI) -> None:
    async with asgi_client(app) as client:
        apples = await create_product(client, price_fen=500, stock=100, name="Apples")
        pears = await create_product(client, price_fen=800, stock=100, name="Pears")
        # c3 pays first with one apple, then c1 with three, then c2 with two and a pear.
        orders, batch_id = await batched(
            app,
            client,
            [("c3", [(apples, 1)]), ("c1", [(apples, 3)]), ("c2", [(apples, 2), (pears, 1)])],
        )
        first, second, third = orders
        received = await receive(client, batch_id, [(apples, 2, "missing"), (pears, 1, "damaged")])
        assert received.status_code == 200, received.text
        shortages = {(s["product_id"], s["kind"]): s for s in received.json()["shortages"]}
        assert shortages[(apples, "missing")] | {} == {
            "product_id": apples,
            "product_name": "Apples",
            "kind": "missing",
            "quantity": 2,
            "refunded_quantity": 2,
            "refund_fen": 1000,
        }
        assert shortages[(pears, "damaged")]["refunded_quantity"] == 1

        # Exactly two apples, taken in order of payment: c3's only one, then one of c1's; the pear from c2.
        assert await refunded(client, first) == {apples: 1}
        assert await refunded(client, second) == {apples: 1}
        assert await refunded(client, third) == {apples: 0, pears: 1}
        for order in orders:
            assert (await get_order(client, order))["status"] == "ready_for_pickup"
        assert (await get_order(client, first))["refund_status"] == "full"
        listed = await client.get(f"/api/v1/orders/{second['id']}/refunds", headers=customer("c1"))
        [refund] = listed.json()
        assert refund["refund_fen"] == 500 and refund["restocked"] is False
        assert refund["requested_by"] == "L1" and "shortage" in refund["reason"]

        # Receiving again is refused and refunds nothing more.
        again = await receive(client, batch_id, [(apples, 2, "missing")])
        assert again.status_code == 409
        assert await refunded(client, second) == {apples: 1}

        report = await client.get(
            "/api/v1/shortages", params={"date": local_date(app.state.clock(), TZ).isoformat()}, headers=OPS
        )
        assert report.status_code == 200, report.text
        body = report.json()
        [entry] = body["batches"]
        assert entry["batch_id"] == batch_id and entry["leader_id"] == "L1" and entry["received_by"] == "L1"
        assert {(i["product_id"], i["kind"], i["quantity"]) for i in entry["items"]} == {
            (apples, "missing", 2),
            (pears, "damaged", 1),
        }
        assert [(p["product_id"], p["kind"], p["quantity"], p["refund_fen"]) for p in body["products"]] == sorted(
            [(apples, "missing", 2, 1000), (pears, "damaged", 1, 800)]
        )
        yesterday = (local_date(app.state.clock(), TZ) - timedelta(days=1)).isoformat()
        empty = (await client.get("/api/v1/shortages", params={"date": yesterday}, headers=OPS)).json()
        assert empty["batches"] == [] and empty["products"] == []


async def test_units_held_by_an_open_after_sale_request_are_left_to_it(app: FastAPI) -> None:
    async with asgi_client(app) as client:
        apples = await create_product(client, price_fen=30_000, stock=100, name="Apples")
        orders, batch_id = await batched(app, client, [("c3", [(apples, 1)]), ("c1", [(apples, 2)])])
        first, second = orders
        # c3 asked for their apple back before the delivery arrived; the request waits for review.
        asked = await client.post(
            f"/api/v1/orders/{first['id']}/after-sales",
            json={"lines": [{"line_id": first["lines"][0]["id"], "quantity": 1}], "reason": "missing"},
            headers=customer("c3"),
        )
        assert asked.status_code == 201 and asked.json()["status"] == "pending"
        received = await receive(client, batch_id, [(apples, 3, "missing")])
        assert received.status_code == 200, received.text
        [shortage] = received.json()["shortages"]
        assert shortage["quantity"] == 3 and shortage["refunded_quantity"] == 2
        assert await refunded(client, first) == {apples: 0}
        assert await refunded(client, second) == {apples: 2}


async def test_no_body_or_no_shortages_means_everything_arrived(app: FastAPI) -> None:
    async with asgi_client(app) as client:
        apples = await create_product(client, price_fen=500, stock=100)
        orders, batch_id = await batched(app, client, [("c1", [(apples, 1)])])
        received = await client.post(f"/api/v1/delivery-batches/{batch_id}/receive", headers=leader())
        assert received.status_code == 200 and received.json()["shortages"] == []
        assert (await get_order(client, orders[0]))["status"] == "ready_for_pickup"


@pytest.mark.parametrize(
    ("shortages", "code"),
    [
        ([("other", 1, "missing")], "SHORTAGE_PRODUCT_NOT_IN_BATCH"),
        ([("apples", 4, "missing")], "SHORTAGE_EXCEEDS_DELIVERY"),
        ([("apples", 2, "missing"), ("apples", 2, "damaged")], "SHORTAGE_EXCEEDS_DELIVERY"),
        ([("apples", 1, "missing"), ("apples", 1, "missing")], "DUPLICATE_SHORTAGE"),
        ([("apples", 0, "missing")], "VALIDATION_ERROR"),
        ([("apples", 1, "stolen")], "VALIDATION_ERROR"),
    ],
)
async def test_impossible_shortages_are_refused_and_the_batch_stays_in_transit(
    app: FastAPI, shortages: list[tuple[str, int, str]], code: str
) -> None:
    async with asgi_client(app) as client:
        apples = await create_product(client, price_fen=500, stock=100)
        other = await create_product(client, price_fen=500, stock=100)
        ids = {"apples": apples, "other": other}
        _, batch_id = await batched(app, client, [("c1", [(apples, 3)])])
        refused = await receive(client, batch_id, [(ids[name], q, kind) for name, q, kind in shortages])
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == code
        batch = (await client.get(f"/api/v1/delivery-batches/{batch_id}", headers=leader())).json()
        assert batch["status"] == "in_transit"
        assert (await receive(client, batch_id, None)).status_code == 200


async def test_the_shortage_report_is_for_operations_and_its_query_is_strict(orders_client: httpx.AsyncClient) -> None:
    for headers in (customer(), leader(), bearer("sup-1", ["support"])):
        refused = await orders_client.get("/api/v1/shortages", headers=headers)
        assert refused.status_code == 403 and refused.json()["code"] == "MISSING_PERMISSION"
    for params in (
        {"date": "yesterday"},
        {"day": "2026-01-01"},
        {"limit": 0},
        {"cursor": "%%%"},
        {"leader_id": "\u0000"},
    ):
        bad = await orders_client.get("/api/v1/shortages", params=params, headers=OPS)
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["code"]
    today = await orders_client.get("/api/v1/shortages", headers=OPS)
    assert today.status_code == 200 and today.json()["batches"] == []
