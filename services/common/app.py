"""The one way a service app is put together: settings, database, errors, request context, health, ids."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from sqlalchemy import MetaData

from services.common.db import Database
from services.common.errors import Problem, ServiceUnavailable, install_error_handlers
from services.common.observability import RequestContextMiddleware, configure_logging
from services.common.settings import ServiceSettings

BackgroundJob = Callable[[FastAPI], Coroutine[Any, Any, None]]


def _operation_id_generator(service: str) -> Callable[[APIRoute], str]:
    def generate(route: APIRoute) -> str:
        return f"{service}-{route.name}"

    return generate


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

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
    extra_state: dict[str, Any] | None = None,
) -> FastAPI:
    """Create a service app. Nothing connects here: the engine connects lazily, jobs start in the lifespan."""
    configure_logging(service, settings.log_level, settings.log_json)
    db = Database(settings.resolved_database_url(), metadata, pool_size=settings.database_pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in on_startup:
            await hook(app)
        tasks = [asyncio.create_task(job(app), name=job.__name__) for job in background_jobs]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await db.dispose()

    app = FastAPI(
        title=title,
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id_generator(service),
        docs_url=None,  # the gateway serves the docs, from local assets
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.service = service
    for key, value in (extra_state or {}).items():
        setattr(app.state, key, value)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(_health_router())
    for router in routers:
        app.include_router(router)
    return app
