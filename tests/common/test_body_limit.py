"""Every service refuses bodies over its limit with a 413 problem, whether declared up front or streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.common.testing import asgi_client, bearer
from tests.conftest import AppFactory


async def test_a_service_refuses_a_body_over_its_limit_declared_or_streamed(make_app: AppFactory) -> None:
    app = await make_app("orders", max_body_bytes=2048)
    ops = bearer("ops-1", ["ops"])

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "' + b"z" * 4000
        yield b'", "price_fen": 100, "stock": 1}'

    async with asgi_client(app) as client:
        declared = await client.post("/api/v1/products", content=b"{" + b" " * 3000 + b"}", headers=ops)
        streamed = await client.post(
            "/api/v1/products", content=chunks(), headers={**ops, "Content-Type": "application/json"}
        )
        fine = await client.post("/api/v1/products", json={"name": "rice", "price_fen": 100, "stock": 1}, headers=ops)
    for refused in (declared, streamed):
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert fine.status_code == 201
