"""The one way a service app is put together: settings, database, errors, request context, health, ids."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import MetaData

from services.common.auth import ServiceTokens, TokenVerifier, document_callers, key_set_for
from services.common.body_limit import BodyLimit
from services.common.clock import Clock, utcnow
from services.common.db import Database
from services.common.errors import Problem, ServiceUnavailable, install_error_handlers
from services.common.events.bus import build_bus
from services.common.events.wiring import ServiceEvents, consume_nats, event_routers, relay_for
from services.common.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from services.common.metrics import exposition, outbox_refresher, pool_refresher
from services.common.observability import RequestContextMiddleware, configure_logging
from services.common.query_names import QueryNames
from services.common.settings import ServiceSettings
from services.common.txn import AfterTransaction

BackgroundJob = Callable[[FastAPI], Coroutine[Any, Any, None]]


def _operation_id_generator(service: str) -> Callable[[APIRoute], str]:
    def generate(route: APIRoute) -> str:
        return f"{service}-{route.name}"

    return generate


def _health_router(service: str, metrics_body: Callable[[], Awaitable[bytes]]) -> APIRouter:
    router = APIRouter(tags=["health"])

    # Outside /api/v1, so the gateway never forwards it: scraped from inside the cluster, one target per process.
    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(await metrics_body(), media_type=METRICS_CONTENT_TYPE)

    # The service names itself, so whoever checks a port (the launcher, an orchestrator's probe) can tell that the
    # process answering there is the one it started and not another that holds the port.
    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/readyz", summary="The database is reachable", responses={503: {"model": Problem}})
    async def readyz(request: Request) -> dict[str, str]:
        try:
            await request.app.state.db.ping()
        except Exception as exc:
            raise ServiceUnavailable("The database is not reachable") from exc
        return {"status": "ready"}

    return router


def build_service_app(
    *,
    service: str,
    title: str,
    settings: ServiceSettings,
    metadata: MetaData,
    routers: Sequence[APIRouter],
    background_jobs: Sequence[BackgroundJob] = (),
    on_startup: Sequence[Callable[[FastAPI], Awaitable[None]]] = (),
    on_shutdown: Sequence[Callable[[FastAPI], Awaitable[None]]] = (),
    extra_state: dict[str, Any] | None = None,
    events: ServiceEvents | None = None,
) -> FastAPI:
    """Create a service app. Nothing connects here: the engine connects lazily, jobs start in the lifespan.

    With `events`, the app gets the event pieces every service shares (see `services.common.events.wiring`): the
    internal endpoint the HTTP bus pushes to, the ops dead-letter endpoints, the outbox relay and, on NATS, the
    durable consumer. Tests may put their own `bus` in `extra_state`.

    Identity: `app.state.token_verifier` checks every bearer token with the keys published at `AUTH_JWKS_URL`, and
    `app.state.service_tokens` is this service's own token from accounts (for events and calls to other services).
    `extra_state` may bring either (accounts verifies with its own keys and signs its own token).
    """
    configure_logging(service, settings.log_level, settings.log_json)
    db = Database(settings.resolved_database_url(), metadata, pool_size=settings.database_pool_size)
    state = dict(extra_state or {})
    verifier = state.pop("token_verifier", None) or TokenVerifier(
        key_set_for(
            settings.auth_jwks_url,
            issuer=settings.auth_token_issuer,
            max_lifetime_seconds=settings.auth_max_token_lifetime_seconds,
        )
    )
    service_tokens = state.pop("service_tokens", None) or ServiceTokens.from_settings(settings, service)
    jobs = list(background_jobs)
    if events is not None:
        jobs.extend(_event_jobs(service, settings, events))

    async def release_resources(app: FastAPI) -> None:
        """What every stop ends with, also for callers that never ran the lifespan (the `groupbuy` CLI)."""
        for hook in on_shutdown:
            await hook(app)
        await app.state.after_transaction.drain()
        await app.state.service_tokens.aclose()
        await db.dispose()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_bus = events is not None and getattr(app.state, "bus", None) is None
        if own_bus:
            app.state.bus = build_bus(settings, tokens=app.state.service_tokens)
        app.state.stopping = asyncio.Event()
        for hook in on_startup:
            await hook(app)
        tasks = [asyncio.create_task(job(app), name=job.__name__) for job in jobs]
        # Everything built at start-up lives as long as the process: keep it out of the garbage collector's
        # full passes, which otherwise walk it again and again under load (bench/README.md).
        gc.freeze()
        try:
            yield
        finally:
            # The server stopped taking requests and finished those in flight; jobs finish the run they are in
            # (the relay its batch) and stop, and only what outlives the grace period is cancelled.
            app.state.stopping.set()
            if tasks:
                _, late = await asyncio.wait(tasks, timeout=settings.shutdown_grace_seconds)
                for task in late:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            if own_bus:
                await app.state.bus.aclose()
            await release_resources(app)

    # Every route refuses query parameters it does not declare (`services.common.query_names`): an app-level
    # dependency reaches the routes of every included router; the names are read once the routers are in.
    query_names = QueryNames()
    app = FastAPI(
        title=title,
        dependencies=[query_names.dependency()],
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id_generator(service),
        docs_url=None,  # the gateway serves the docs, from local assets
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.service = service
    app.state.clock = utcnow
    app.state.release_resources = release_resources
    app.state.token_verifier = verifier
    app.state.service_tokens = service_tokens
    #: Set when the process begins to stop: background jobs finish their current run and return.
    app.state.stopping = asyncio.Event()
    # The one registry of work that follows a transaction's outcome (Redis releases, HTTP calls) in this process.
    app.state.after_transaction = state.get("after_transaction") or AfterTransaction()
    for key, value in state.items():
        setattr(app.state, key, value)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, service=service)
    refreshers = [pool_refresher(service, db.engine)]
    if events is not None:
        refreshers.append(outbox_refresher(service, db.engine, events.outbox.table))
    app.include_router(_health_router(service, exposition(refreshers)))
    for router in routers:
        app.include_router(router)
    if events is not None:
        for router in event_routers(service, events):
            app.include_router(router)
    document_callers(app.routes)
    # After `document_callers`: reading the routes makes FastAPI copy each included route's settings, and the
    # copies must carry the callers' rules.
    query_names.learn(app.routes)
    app.state.query_names = query_names
    return app


def _event_jobs(service: str, settings: ServiceSettings, events: ServiceEvents) -> list[BackgroundJob]:
    jobs: list[BackgroundJob] = []
    if settings.events_relay_in_process:

        async def outbox_relay(app: FastAPI) -> None:
            await relay_for(app, events).run_forever(settings.events_poll_seconds, app.state.stopping)

        jobs.append(outbox_relay)
    if settings.events_nats_url and events.handlers:

        async def nats_consumer(app: FastAPI) -> None:
            await consume_nats(app, service=service, inbox=events.inbox, handlers=events.handlers)

        jobs.append(nats_consumer)
    return jobs


def from_app_state(attribute: str) -> Callable[[Request], Coroutine[Any, Any, Any]]:
    """A dependency returning `app.state.<attribute>` (settings, clients, providers that `create_app` put there and
    tests replace with fakes): `SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]`.

    `async def` although nothing awaits: FastAPI runs a plain `def` dependency in its thread pool, a hop that costs
    far more than the attribute read (bench/README.md).
    """

    async def read_app_state(request: Request) -> Any:
        return getattr(request.app.state, attribute)

    read_app_state.__name__ = f"app_state_{attribute}"
    return read_app_state


async def _now(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock()


#: The current time from the app's clock (`app.state.clock`; tests replace it).
NowDep = Annotated[datetime, Depends(_now)]
