"""Every error, whatever raised it, reaches the caller as application/problem+json with a stable code."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from services.common.testing import asgi_client, bad_authorizations, bearer


async def test_unknown_route_is_a_404_problem(orders_client: Any) -> None:
    response = await orders_client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "NOT_FOUND" and body["status"] == 404 and body["type"] and body["title"]


async def test_wrong_method_is_a_405_problem(orders_client: Any) -> None:
    response = await orders_client.delete("/api/v1/products")
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    # GET and POST live on two routes; Allow names both (the router alone named only the first).
    assert response.headers["allow"] == "GET, POST"


async def test_malformed_json_is_a_422_problem(orders_client: Any) -> None:
    response = await orders_client.post(
        "/api/v1/products",
        content=b"{not json",
        headers={**bearer("o", ["ops"]), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_unexpected_exception_is_a_500_problem_without_stack_trace(orders_app: FastAPI) -> None:
    @orders_app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with asgi_client(orders_app) as client:
        response = await client.get("/boom", headers={"X-Request-Id": "req-123"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "INTERNAL_ERROR"
    assert body["request_id"] == "req-123"
    assert "secret internals" not in response.text and "Traceback" not in response.text


async def test_request_id_is_echoed_or_generated(orders_client: Any) -> None:
    given = await orders_client.get("/healthz", headers={"X-Request-Id": "abc-1"})
    assert given.headers["x-request-id"] == "abc-1"
    generated = await orders_client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32


async def test_health_and_readiness(orders_client: Any) -> None:
    assert (await orders_client.get("/healthz")).json() == {"status": "ok", "service": "orders"}
    assert (await orders_client.get("/readyz")).json() == {"status": "ready"}


@pytest.mark.parametrize(("case", "authorization"), sorted(bad_authorizations().items()))
async def test_bad_tokens_are_401(orders_client: Any, case: str, authorization: str) -> None:
    response = await orders_client.get("/api/v1/products", headers={"Authorization": authorization})
    assert response.status_code == 401, case
    assert response.json()["code"] == "INVALID_TOKEN", case
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_good_token_passes(orders_client: Any) -> None:
    assert (await orders_client.get("/api/v1/products", headers=bearer("u1", ["customer"]))).status_code == 200
