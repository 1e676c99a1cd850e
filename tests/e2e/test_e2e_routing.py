"""Requests through the gateway reach the real service that owns their path, and come back unchanged."""

from __future__ import annotations

import httpx
import pytest

from services.gateway.routes import SERVICE_PREFIXES
from tests.e2e.conftest import Deliveries, customer, ops

PRODUCT = {"name": "烟台苹果 5kg", "price_fen": 3990, "stock": 12, "category": "fruit"}


async def test_a_product_created_through_the_gateway_is_read_back_through_it(
    e2e: httpx.AsyncClient, deliveries: Deliveries
) -> None:
    created = await e2e.post("/api/v1/products", json=PRODUCT, headers={**ops(), "Idempotency-Key": "e2e-apples"})
    assert created.status_code == 201, created.text
    product = created.json()
    assert {k: product[k] for k in PRODUCT} == PRODUCT

    read = await e2e.get(f"/api/v1/products/{product['id']}", headers=customer())
    assert read.status_code == 200
    assert read.json() == product
    listed = await e2e.get("/api/v1/products", headers=customer())
    assert [item["id"] for item in listed.json()["items"]] == [product["id"]]
    assert deliveries.services_for("/api/v1/products") == ["orders", "orders"]


async def test_an_idempotent_retry_through_the_gateway_replays_the_first_answer(e2e: httpx.AsyncClient) -> None:
    headers = {**ops(), "Idempotency-Key": "e2e-retry"}
    first = await e2e.post("/api/v1/products", json=PRODUCT, headers=headers)
    again = await e2e.post("/api/v1/products", json=PRODUCT, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    reused = await e2e.post("/api/v1/products", json={**PRODUCT, "stock": 13}, headers=headers)
    assert reused.status_code == 409
    assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize(
    ("service", "prefix"), [(service, prefix) for service, prefixes in SERVICE_PREFIXES.items() for prefix in prefixes]
)
async def test_every_public_prefix_reaches_the_service_that_owns_it(
    e2e: httpx.AsyncClient, deliveries: Deliveries, service: str, prefix: str
) -> None:
    path = f"{prefix}/e2e-probe"
    response = await e2e.get(path, headers=customer(), params={"q": "1"})
    # Whatever the service makes of the probe (404 for most), it answered, in its own problem shape.
    assert deliveries.services_for(path) == [service]
    assert response.status_code not in (502, 503, 504), response.text
    assert response.headers["content-type"].startswith(("application/json", "application/problem+json"))
    assert response.headers["x-request-id"]


async def test_a_request_id_travels_to_the_service_and_back(e2e: httpx.AsyncClient) -> None:
    response = await e2e.get("/api/v1/products", headers={**customer(), "X-Request-Id": "e2e-trace-1"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "e2e-trace-1"


async def test_a_dev_token_from_the_gateway_is_accepted_by_the_services(e2e: httpx.AsyncClient) -> None:
    issued = await e2e.post("/api/v1/auth/dev-token", json={"sub": "e2e-ops-2", "roles": ["ops"]})
    assert issued.status_code == 200
    token = issued.json()["access_token"]
    created = await e2e.post("/api/v1/products", json=PRODUCT, headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201


async def test_services_refuse_what_the_gateway_passes_without_a_valid_token(e2e: httpx.AsyncClient) -> None:
    anonymous = await e2e.get("/api/v1/products")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    not_ops = await e2e.post("/api/v1/products", json=PRODUCT, headers=customer())
    assert not_ops.status_code == 403


async def test_internal_and_health_paths_of_the_services_are_not_routed(
    e2e: httpx.AsyncClient, deliveries: Deliveries
) -> None:
    for path in ("/internal/events", "/api/v1/internal/events", "/api/v1/products/../../internal/events"):
        request = e2e.build_request("POST", path, json={}, headers=ops())
        request.url = request.url.copy_with(raw_path=path.encode())
        response = await e2e.send(request)
        assert response.status_code == 404, path
    assert deliveries.seen == []
