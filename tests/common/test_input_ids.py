"""Ids in paths and bodies: anything beyond what a BIGINT holds is a 422, an id nobody has a 404, never a 500; and
on PostgreSQL every sequence counts past 2^31 with the whole order flow still working (32-bit columns would fail)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import itertools
import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from services.common.testing import bearer
from tests.e2e.conftest import Wiring, approved_leader, customer, ok, ops, pay
from tests.e2e.test_e2e_openapi import operations

EVERYONE = bearer("input-everyone", ["ops", "customer", "leader"])
PAST_32_BITS = 3_000_000_000
#: Past 32 bits, the largest BIGINT, one past it, far past it, and ids no row has.
VALUES = [2**31, 2**63 - 1, 2**63, 10**30, -1, 0]


def _fill(match: re.Match[str], *, ids: list[str], value: int) -> str:
    if match.group(1) in ids:
        return str(value)
    return {"period": "2026-03", "pickup_date": "2026-03-10"}.get(match.group(1), "1")


def _integer_path_parameters(operation: dict[str, Any]) -> list[str]:
    names = []
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
        if parameter["in"] == "path" and "integer" in kinds:
            names.append(parameter["name"])
    return names


async def test_an_id_out_of_range_or_unknown_in_any_path_is_a_4xx(e2e: httpx.AsyncClient) -> None:
    document = (await e2e.get("/openapi.json")).json()
    probed, server_errors = 0, []
    for (path, method, operation), value in itertools.product(operations(document), VALUES):
        names = _integer_path_parameters(operation)
        if not names:
            continue
        url = re.sub(r"\{([^}]+)\}", functools.partial(_fill, ids=names, value=value), path)
        headers = {**EVERYONE, "Idempotency-Key": f"ids-{method}-{value}"}
        response = await e2e.request(method.upper(), url, headers=headers, json={})
        probed += 1
        beyond = value > 2**63 - 1 or value < 1
        if response.status_code >= 500 or (beyond and response.status_code != 422):
            server_errors.append(f"{method.upper()} {url}: {response.status_code} {response.text[:200]}")
    assert probed > 30 * len(VALUES)
    assert server_errors == []


@pytest.mark.postgres
async def test_an_order_flow_works_with_every_sequence_past_2_31(
    e2e: httpx.AsyncClient, wiring: Wiring, service_apps: dict[str, FastAPI]
) -> None:
    narrow = []
    for name, app in service_apps.items():
        async with app.state.db.engine.begin() as conn:
            sequences = await conn.execute(text("SELECT schemaname, sequencename, max_value FROM pg_sequences"))
            for schema, sequence, max_value in sequences.all():
                if max_value < PAST_32_BITS:
                    narrow.append(f"{name}: {sequence}")
                    continue
                await conn.execute(text(f'ALTER SEQUENCE "{schema}"."{sequence}" RESTART WITH {PAST_32_BITS}'))
    assert narrow == []  # a 32-bit sequence is a 32-bit id column: a 500 once it passes 2^31

    leader_id = await approved_leader(e2e, "leader-big")
    product = ok(
        await e2e.post("/api/v1/products", headers=ops(), json={"name": "Apples", "price_fen": 2000, "stock": 5}), 201
    )
    assert product["id"] >= PAST_32_BITS
    buyer = customer("customer-big")
    order = ok(
        await e2e.post(
            "/api/v1/orders",
            headers=buyer | {"Idempotency-Key": "big-1"},
            json={"leader_id": leader_id, "lines": [{"product_id": product["id"], "quantity": 2}]},
        ),
        201,
    )
    assert order["id"] >= PAST_32_BITS and all(line["id"] >= PAST_32_BITS for line in order["lines"])
    await pay(e2e, wiring.apps["orders"], order, "tx-big-1")
    assert await wiring.deliver() >= 1
    ok(await e2e.post(f"/api/v1/orders/{order['id']}/arrive", headers=ops()))
    mine = ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=buyer))
    leader = bearer(leader_id, ["leader"])
    picked = ok(
        await e2e.post(
            f"/api/v1/orders/{order['id']}/pickup", headers=leader, json={"pickup_code": mine["pickup_code"]}
        )
    )
    assert picked["status"] == "picked_up"
    await wiring.deliver()
    entries = ok(await e2e.get(f"/api/v1/leaders/{leader_id}/commission/entries", headers=leader))["items"]
    assert all(entry["id"] >= PAST_32_BITS for entry in entries)
    points = ok(await e2e.get("/api/v1/points/me/entries", headers=buyer))["items"]
    assert points and all(entry["id"] >= PAST_32_BITS for entry in points)
    # One past the largest id is refused as input, the largest is simply not there.
    assert (await e2e.get(f"/api/v1/orders/{2**63}", headers=buyer)).status_code == 422
    assert (await e2e.get(f"/api/v1/orders/{2**63 - 1}", headers=buyer)).status_code == 404


async def test_a_signed_payment_notification_naming_any_order_id_is_a_4xx(
    e2e: httpx.AsyncClient, service_apps: dict[str, FastAPI]
) -> None:
    secret = service_apps["orders"].state.settings.payment_secret.encode()
    answers = {}
    for value in VALUES:
        raw = json.dumps({"order_id": value, "transaction_id": f"tx-{value}", "amount_fen": 100}).encode()
        signature = hmac.new(secret, raw, hashlib.sha256).hexdigest()
        response = await e2e.post(
            "/api/v1/payments/notify",
            content=raw,
            headers={"X-Payment-Signature": signature, "Content-Type": "application/json"},
        )
        answers[value] = response.status_code
    # An order nobody has is not found; an id no order can have is not valid input.
    assert answers == {2**31: 404, 2**63 - 1: 404, 2**63: 422, 10**30: 422, -1: 422, 0: 422}
