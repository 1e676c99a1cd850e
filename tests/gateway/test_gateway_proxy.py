"""Forwarding through the gateway, in-process: routing, headers, bodies, and upstream failures."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import bearer
from tests.gateway.gateway_standins import CountingTransport, GatewayFactory, RefusingTransport

#: A valid token: the gateway checks it before forwarding.
TOKEN = bearer("u1", ["customer"])["Authorization"]


def _headers(echo: dict[str, Any]) -> dict[str, list[str]]:
    received: dict[str, list[str]] = {}
    for name, value in echo["headers"]:
        received.setdefault(name, []).append(value)
    return received


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/leaders/echo", "leaders"),
        ("/api/v1/orders/echo", "orders"),
        ("/api/v1/points/echo", "points"),
    ],
)
async def test_each_prefix_reaches_the_service_that_owns_it(
    gateway: httpx.AsyncClient, path: str, service: str
) -> None:
    response = await gateway.get(path)
    assert response.status_code == 200
    assert response.json()["service"] == service
    assert response.json()["path"] == path


async def test_a_public_resource_is_served_by_its_service(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/api/v1/products", json={"name": "rice 10kg", "price_fen": 5990})
    assert response.status_code == 201
    created = response.json()
    assert (await gateway.get(f"/api/v1/products/{created['id']}")).json() == created
    assert created in (await gateway.get("/api/v1/products")).json()


async def test_a_prefix_lookalike_is_not_forwarded(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/productsX")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "path",
    [
        "/internal/x",
        "/internal/events",
        "/api/v1/products/../../../internal/x",
        "/api/v1/products/%2e%2e/%2e%2e/%2e%2e/internal/x",
    ],
)
async def test_internal_routes_are_not_reachable(
    make_gateway: GatewayFactory, upstream_apps: dict[str, FastAPI], path: str
) -> None:
    orders = CountingTransport(upstream_apps["orders"])
    async with make_gateway(transports={"orders": orders}) as gateway:
        # httpx would normalise the dots away; send the raw target exactly as an attacker would.
        request = gateway.build_request("GET", "http://gateway.test")
        request.url = request.url.copy_with(raw_path=path.encode())
        response = await gateway.send(request)
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert orders.paths == []  # refused by the gateway itself, whatever the service would have made of it


async def test_end_to_end_headers_reach_the_upstream(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        "/api/v1/orders/echo",
        content=b"{}",
        headers={
            "Authorization": TOKEN,
            "Idempotency-Key": "order-2024-0001",
            "X-Payment-Signature": "9f86d081884c7d65",
            "X-Request-Id": "req-from-client-1",
            "Content-Type": "application/json",
            "Accept-Language": "zh-CN",
        },
    )
    received = _headers(response.json())
    assert received["authorization"] == [TOKEN]
    assert received["idempotency-key"] == ["order-2024-0001"]
    assert received["x-payment-signature"] == ["9f86d081884c7d65"]
    assert received["x-request-id"] == ["req-from-client-1"]
    assert received["content-type"] == ["application/json"]
    assert received["accept-language"] == ["zh-CN"]
    assert received["x-forwarded-for"] == ["127.0.0.1"]
    assert received["x-forwarded-proto"] == ["http"]
    assert received["x-forwarded-host"] == ["gateway.test"]
    assert response.headers["x-request-id"] == "req-from-client-1"


async def test_a_request_id_is_generated_when_missing_and_echoed(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/orders/echo")
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert _headers(response.json())["x-request-id"] == [request_id]
    again = await gateway.get("/api/v1/orders/echo")
    assert again.headers["x-request-id"] != request_id


async def test_an_unusable_request_id_is_replaced(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/orders/echo", headers={"X-Request-Id": "x" * 500})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_existing_forwarded_for_is_extended(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/orders/echo", headers={"X-Forwarded-For": "203.0.113.7"})
    assert _headers(response.json())["x-forwarded-for"] == ["203.0.113.7, 127.0.0.1"]


async def test_hop_by_hop_request_headers_are_not_forwarded(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(
        "/api/v1/orders/echo",
        headers={
            "Connection": "keep-alive, X-Hop-Secret",
            "Keep-Alive": "timeout=5",
            "X-Hop-Secret": "only for the gateway",
            "TE": "trailers",
            "Trailer": "X-Checksum",
            "Upgrade": "websocket",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-End-To-End": "kept",
        },
    )
    received = _headers(response.json())
    for hop in ("connection", "keep-alive", "x-hop-secret", "te", "trailer", "upgrade", "proxy-authorization"):
        assert hop not in received, hop
    assert received["x-end-to-end"] == ["kept"]
    assert received["host"] != ["gateway.test"]  # the upstream's own host, the caller's is X-Forwarded-Host


async def test_hop_by_hop_response_headers_are_not_returned(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/orders/hop-headers")
    assert response.status_code == 200
    for hop in ("connection", "keep-alive", "x-hop-secret", "proxy-authenticate"):
        assert hop not in response.headers, hop
    assert response.headers["x-end-to-end"] == "kept"


async def test_body_and_query_string_arrive_byte_exact(gateway: httpx.AsyncClient) -> None:
    body = bytes(range(256)) * 3 + '{"名字": "苹果"}'.encode()
    query = "b=2&a=1&a=%E8%8B%B9&empty=&plus=a+b&pct=%2F%3F"
    response = await gateway.put(
        f"/api/v1/orders/echo?{query}", content=body, headers={"Content-Type": "application/octet-stream"}
    )
    echo = response.json()
    assert echo["method"] == "PUT"
    assert echo["query"] == query
    assert base64.b64decode(echo["body_b64"]) == body
    assert _headers(echo)["content-length"] == [str(len(body))]


async def test_the_raw_path_is_forwarded_unchanged(gateway: httpx.AsyncClient) -> None:
    # `%65` is `e`: the upstream routes on the decoded path but must see the caller's bytes.
    request = gateway.build_request("GET", "http://gateway.test")
    request.url = request.url.copy_with(raw_path=b"/api/v1/orders/%65cho")
    assert (await gateway.send(request)).json()["raw_path"] == "/api/v1/orders/%65cho"
    response = await gateway.get("/api/v1/products/%E8%8B%B9%E6%9E%9C")
    assert response.status_code == 422  # the upstream saw the encoded segment and rejected it as a product id


async def test_a_streamed_request_body_is_forwarded_whole(gateway: httpx.AsyncClient) -> None:
    chunks = [b"first-", b"second-", b"x" * 100_000, b"-last"]

    async def upload() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    # Signed in: over 64 KiB is more than an anonymous caller may send.
    response = await gateway.post("/api/v1/points/echo", content=upload(), headers={"Authorization": TOKEN})
    echo = response.json()
    assert base64.b64decode(echo["body_b64"]) == b"".join(chunks)


async def test_upstream_errors_pass_through_unchanged(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/api/v1/products", json={"name": "no price"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_an_upstream_that_refuses_connections_gives_503_naming_it(make_gateway: GatewayFactory) -> None:
    async with make_gateway(transports={"points": RefusingTransport()}) as gateway:
        response = await gateway.get("/api/v1/points/me", headers={"X-Request-Id": "r-503"})
        assert (await gateway.get("/api/v1/products")).status_code == 200  # the others keep working
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "r-503"
    problem = response.json()
    assert problem["code"] == "SERVICE_UNAVAILABLE"
    assert problem["service"] == "points"
    assert "points" in problem["detail"]


async def test_a_slow_upstream_gives_504_naming_it(make_gateway: GatewayFactory) -> None:
    async with make_gateway(upstream_read_timeout_seconds=0.2) as gateway:
        response = await gateway.get("/api/v1/orders/slow", params={"seconds": 5})
    assert response.status_code == 504
    problem = response.json()
    assert problem["code"] == "UPSTREAM_TIMEOUT"
    assert problem["service"] == "orders"
    assert "orders" in problem["detail"]


async def test_a_body_declared_too_large_is_refused_before_it_is_read(
    make_gateway: GatewayFactory, upstream_apps: dict[str, FastAPI]
) -> None:
    orders = CountingTransport(upstream_apps["orders"])
    async with make_gateway(
        transports={"orders": orders}, max_body_bytes=4096, max_anonymous_body_bytes=1024
    ) as gateway:
        anonymous = await gateway.post("/api/v1/orders/echo", content=b"x" * 2000)
        signed_in = await gateway.post("/api/v1/orders/echo", content=b"x" * 2000, headers={"Authorization": TOKEN})
        too_big = await gateway.post("/api/v1/orders/echo", content=b"x" * 5000, headers={"Authorization": TOKEN})
    assert anonymous.status_code == 413
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert signed_in.status_code == 200  # the larger limit of a caller with credentials
    assert too_big.status_code == 413
    assert orders.paths == ["/api/v1/orders/echo"]  # only the one within its limit reached the service


async def test_a_streamed_body_that_grows_too_large_never_reaches_the_service_whole(
    make_gateway: GatewayFactory, upstream_apps: dict[str, FastAPI]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 500

    async with make_gateway(max_anonymous_body_bytes=2048) as gateway:
        response = await gateway.post("/api/v1/orders/echo", content=chunks())
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
