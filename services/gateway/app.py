"""The gateway application: `uvicorn --factory services.gateway.app:create_app`.

The top level is a plain ASGI dispatcher. A path the route table owns goes straight to the reverse proxy (which
checks its bearer token first); anything else (the merged OpenAPI document, docs pages, health, and every unknown
path, `/internal/...` included) goes to a small FastAPI app that answers unknown paths with a 404 problem. Sign-in
is the accounts service's, routed like any other path: the gateway signs nothing.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
import httpx
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

from services.common.auth import key_set_for
from services.common.body_limit import BodyLimit
from services.common.errors import install_error_handlers
from services.common.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from services.common.metrics import exposition
from services.common.observability import RequestContextMiddleware, configure_logging
from services.common.production import ensure_production_ready, platform_problems
from services.gateway.config import GatewaySettings, get_settings
from services.gateway.openapi import OpenAPIAggregator
from services.gateway.proxy import ReverseProxy
from services.gateway.ratelimit import (
    LIMITED_ROUTES,
    ClientAddress,
    RateLimiter,
    RuleTable,
    parse_networks,
    rules_from_settings,
    storage_for,
)
from services.gateway.routes import RouteTable
from services.gateway.tokens import TokenCheck
from services.gateway.upstream import UpstreamError, UpstreamPool

# Swagger UI and ReDoc assets ship inside fastapi-offline, so the docs pages work with no internet access.
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/static/docs"

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]


def _has_dot_segment(path: str) -> bool:
    # `/api/v1/products/../../internal/x` must not reach a service, whatever the service's router would make of it.
    return "/." in path and any(segment in (".", "..") for segment in path.split("/"))


class GatewayApp:
    """Dispatches between the proxy and the gateway's own endpoints. `running()` is the lifespan, for tests."""

    def __init__(
        self, *, api: FastAPI, proxy: ReverseProxy, routes: RouteTable, running: Lifespan, settings: GatewaySettings
    ) -> None:
        self.api = api
        self.settings = settings
        self._proxy = proxy
        self._routes = routes
        self._running = running

    def running(self) -> AbstractAsyncContextManager[None]:
        """Start the upstream clients, and close them on exit (what the server's lifespan does)."""
        return self._running(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            service = self._routes.match(path)
            if service is not None and not _has_dot_segment(path):
                # Proxied requests are logged by the service that answers them (same request id), not here:
                # a log line per request would be a large share of the gateway's cost.
                await self._proxy(scope, receive, send, service)
                return
        await self.api(scope, receive, send)


def _build_api(
    settings: GatewaySettings,
    routes: RouteTable,
    upstreams: UpstreamPool,
    lifespan: Lifespan,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    api = FastAPI(
        title=settings.api_title,
        version=settings.api_version,
        openapi_url=None,  # served below: the merged document, not just the gateway's routes
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        generate_unique_id_function=lambda route: f"gateway-{route.name}",
    )
    install_error_handlers(api)
    # The gateway's own endpoints take no body worth the name: the anonymous limit applies.
    api.add_middleware(BodyLimit, max_bytes=settings.max_anonymous_body_bytes)
    api.add_middleware(RequestContextMiddleware, service="gateway")
    api.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")

    aggregator = OpenAPIAggregator(
        routes=routes,
        upstreams=upstreams,
        gateway_doc=api.openapi,  # the gateway's own routes; FastAPI builds it once and caches it
        title=settings.api_title,
        version=settings.api_version,
        fetch_timeout=settings.openapi_fetch_timeout_seconds,
        cache_seconds=settings.openapi_cache_seconds,
        rate_limited=limiter.table if limiter is not None else None,
    )

    @api.get("/openapi.json", include_in_schema=False)
    async def openapi_document() -> Response:
        return Response(await aggregator.document(), media_type="application/json")

    @api.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{settings.api_title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_URL}/favicon.png",
        )

    @api.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{settings.api_title} - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "gateway"}

    metrics_body = exposition()

    @api.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(await metrics_body(), media_type=METRICS_CONTENT_TYPE)

    async def upstream_state(service: str) -> str:
        try:
            status, _ = await upstreams.get(
                service, "/readyz", within=settings.readiness_timeout_seconds, request_id="gateway-readyz"
            )
        except UpstreamError:
            return "unreachable"
        return "ready" if status == 200 else f"not ready (HTTP {status})"

    @api.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        # Ready when every upstream is: the report names each, so a failing probe says which one is missing.
        services = list(upstreams.base_urls)
        states = dict(zip(services, await asyncio.gather(*map(upstream_state, services)), strict=True))
        ready = all(state == "ready" for state in states.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "services": states}, status_code=200 if ready else 503
        )

    return api


def build_limiter(settings: GatewaySettings) -> RateLimiter | None:
    """The gateway's rate limiter, or None when rate limits are off (or no route has a limit)."""
    if not settings.rate_limits_enabled:
        return None
    table = RuleTable(rules_from_settings(settings), LIMITED_ROUTES)
    if not table.methods:
        return None
    storage = storage_for(settings.rate_limit_storage_url, key_prefix=settings.rate_limit_key_prefix)
    return RateLimiter(storage, table, ClientAddress(parse_networks(settings.trusted_proxies)))


def create_app(
    settings: GatewaySettings | None = None,
    *,
    upstream_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> GatewayApp:
    """Build the gateway. `upstream_transports` replaces the network client for the named services (tests)."""
    settings = settings or get_settings()
    ensure_production_ready("gateway", settings, platform_problems(settings))
    configure_logging("gateway", settings.log_level, settings.log_json)
    routes = RouteTable()
    upstreams = UpstreamPool(settings, upstream_transports)
    keys = key_set_for(
        settings.auth_jwks_url,
        issuer=settings.auth_token_issuer,
        max_lifetime_seconds=settings.auth_max_token_lifetime_seconds,
    )
    limiter = build_limiter(settings)
    proxy = ReverseProxy(
        upstreams,
        TokenCheck(keys, max_entries=settings.verified_tokens_cached),
        max_body_bytes=settings.max_body_bytes,
        max_anonymous_body_bytes=settings.max_anonymous_body_bytes,
        limiter=limiter,
    )

    @asynccontextmanager
    async def running(_: Any) -> AsyncIterator[None]:
        await upstreams.start()
        proxy.start()
        gc.freeze()  # start-up objects live as long as the process: keep them out of full collections
        try:
            yield
        finally:
            await upstreams.aclose()
            if limiter is not None:
                await limiter.aclose()

    api = _build_api(settings, routes, upstreams, running, limiter)
    return GatewayApp(api=api, proxy=proxy, routes=routes, running=running, settings=settings)
