"""A stand-in orders service for the gateway tests that run real uvicorn processes.

Run with `uvicorn --factory gateway_upstream_app:create_app --app-dir tests/gateway`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from starlette.responses import StreamingResponse


def create_app() -> FastAPI:
    app = FastAPI(title="orders stand-in", generate_unique_id_function=lambda route: f"orders-{route.name}")

    @app.get("/api/v1/products/{product_id}")
    async def get_product(product_id: int) -> dict[str, object]:
        return {"id": product_id, "name": "apples 5kg", "price_fen": 2990}

    @app.post("/api/v1/orders/echo")
    async def echo(request: Request) -> dict[str, object]:
        body = await request.body()
        return {
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
            "query": request.scope["query_string"].decode("latin-1"),
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_length": len(body),
        }

    @app.post("/api/v1/orders/crash")
    async def crash() -> dict[str, str]:
        # An unhandled error: the server answers 500 and then drops the connection without `Connection: close`.
        raise RuntimeError("boom")

    @app.get("/api/v1/orders/slow")
    async def slow(seconds: float = 3.0) -> dict[str, str]:
        await asyncio.sleep(seconds)
        return {"status": "finally"}

    @app.get("/api/v1/orders/export")
    async def export(size: int = 1_000_000) -> StreamingResponse:
        """A large response with no Content-Length: the gateway must stream it through."""

        async def rows() -> AsyncIterator[bytes]:
            block = bytes(range(256)) * 256  # 64 KiB
            sent = 0
            while sent < size:
                chunk = block[: size - sent]
                sent += len(chunk)
                yield chunk

        return StreamingResponse(rows(), media_type="application/octet-stream")

    @app.get("/internal/x")
    async def internal_x() -> dict[str, str]:
        return {"secret": "orders"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app
