"""Stand-in upstream services for the gateway tests, and transports that play a service being down.

The stand-ins are small FastAPI apps serving the same kinds of paths as the real services (public routes under
the gateway's prefixes, `/internal/...`, `/healthz`, `/readyz`, `/openapi.json`), so the gateway tests do not
depend on the real services.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, create_model

from services.common.errors import install_error_handlers, problem_docs
from services.common.testing import jwks_url_for_tests
from services.gateway.config import GatewaySettings

bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class Product(BaseModel):
    id: int
    name: str
    price_fen: int


class ProductCreate(BaseModel):
    name: str
    price_fen: int


class Leader(BaseModel):
    id: int
    name: str


# Leaders' idea of a product: a different shape under the same schema name as orders' `Product` (a conflict).
LeaderProduct = create_model("Product", product_id=(int, ...), commission_bp=(int, ...))


class PointsAccount(BaseModel):
    balance: int
    held: int


def _operation_id(service: str) -> Callable[[APIRoute], str]:
    return lambda route: f"{service}-{route.name}"


def standin_app(service: str, echo_prefix: str) -> FastAPI:
    """What every stand-in has: an echo route under its prefix, ops routes and an internal route."""
    app = FastAPI(title=f"{service} stand-in", generate_unique_id_function=_operation_id(service))
    install_error_handlers(app)
    app.state.service = service

    @app.api_route(f"{echo_prefix}/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def echo(request: Request) -> dict[str, Any]:
        """Tell the caller exactly what arrived."""
        body = await request.body()
        return {
            "service": service,
            "method": request.method,
            "path": request.scope["path"],
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
            "body_b64": base64.b64encode(body).decode(),
        }

    @app.get("/internal/x")
    async def internal_x() -> dict[str, str]:
        return {"secret": service}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def orders_app() -> FastAPI:
    app = standin_app("orders", "/api/v1/orders")
    products = {1: Product(id=1, name="apples 5kg", price_fen=2990)}

    @app.get("/api/v1/products")
    async def list_products() -> list[Product]:
        """List products."""
        return list(products.values())

    @app.post("/api/v1/products", status_code=201, responses=problem_docs())
    async def create_product(body: ProductCreate, credentials: Credentials) -> Product:
        """Create a product (signed-in callers)."""
        product = Product(id=len(products) + 1, **body.model_dump())
        products[product.id] = product
        return product

    @app.get("/api/v1/products/{product_id}")
    async def get_product(product_id: int) -> Product:
        return products.get(product_id) or Product(id=product_id, name="pears", price_fen=990)

    @app.get("/api/v1/orders/slow")
    async def slow_order(seconds: float = 2.0) -> dict[str, str]:
        await asyncio.sleep(seconds)
        return {"status": "finally"}

    @app.get("/api/v1/orders/hop-headers")
    async def hop_headers() -> Response:
        # Connection names X-Hop-Secret as hop-by-hop: neither it nor Connection/Keep-Alive may reach the caller.
        return Response(
            b"{}",
            media_type="application/json",
            headers={
                "Connection": "x-hop-secret",
                "Keep-Alive": "timeout=5",
                "X-Hop-Secret": "1",
                "Proxy-Authenticate": "Basic",
                "X-End-To-End": "kept",
            },
        )

    return app


def leaders_app() -> FastAPI:
    app = standin_app("leaders", "/api/v1/leaders")

    class Product(BaseModel):
        """Leaders' idea of a product: a different shape under the same schema name (a conflict)."""

        product_id: int
        commission_bp: int

    @app.get("/api/v1/leaders/{leader_id}")
    async def get_leader(leader_id: int, credentials: Credentials) -> Leader:
        """Read a leader's public profile."""
        return Leader(id=leader_id, name="Wang")

    @app.get("/api/v1/leaders/{leader_id}/products")
    async def list_leader_products(leader_id: int) -> list[LeaderProduct]:
        return [LeaderProduct(product_id=1, commission_bp=1000)]

    @app.get("/api/v1/products/shadow")
    async def shadow_product() -> dict[str, str]:
        """A path another service owns: the merged document must not take it from leaders."""
        return {}

    return app


def points_app() -> FastAPI:
    app = standin_app("points", "/api/v1/points")

    @app.get("/api/v1/points/me")
    async def get_my_points(credentials: Credentials) -> PointsAccount:
        return PointsAccount(balance=120, held=0)

    @app.get("/api/v1/referrals/me")
    async def get_my_referrals() -> dict[str, str]:
        return {"code": "ABC123"}

    # One function under two methods: FastAPI gives both operations the id `points-sign_in` (a duplicate).
    @app.api_route("/api/v1/points/sign-ins", methods=["GET", "POST"])
    async def sign_in() -> dict[str, int]:
        return {"streak": 1}

    return app


def analytics_app() -> FastAPI:
    return standin_app("analytics", "/api/v1/analytics")


class RefusingTransport(httpx.AsyncBaseTransport):
    """An upstream that is down: every connection is refused. `up = True` brings `app` up behind it."""

    def __init__(self, app: FastAPI | None = None) -> None:
        self.up = False
        self.calls = 0
        self._inner = httpx.ASGITransport(app=app) if app is not None else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if not self.up or self._inner is None:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self._inner.handle_async_request(request)


class CountingTransport(httpx.ASGITransport):
    def __init__(self, app: FastAPI) -> None:
        super().__init__(app=app)
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await super().handle_async_request(request)


def accounts_app() -> FastAPI:
    """Sign-in and the key set live in accounts: the gateway only routes them there."""
    app = standin_app("accounts", "/api/v1/me")

    @app.post("/api/v1/auth/{action}")
    async def sign_in(action: str) -> dict[str, str]:
        """Sign in."""
        return {"service": "accounts", "action": action}

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, str]:
        """The public keys."""
        return {"service": "accounts"}

    return app


def gateway_settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "upstream_read_timeout_seconds": 0.5,
        "openapi_fetch_timeout_seconds": 1.0,
        "readiness_timeout_seconds": 0.5,
        "auth_jwks_url": jwks_url_for_tests(),
    }
    values.update(overrides)
    return GatewaySettings(**values)


GatewayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
