"""The analytics service: a read model of community figures fed by the other services' events.

It never reads another service's tables: every figure comes from events applied once through the inbox (see
docs/metrics.md), and the read model can be rebuilt from the producers' outboxes (`services.analytics.rebuild`).
The one synchronous call it makes is the dashboard's commission and level summary from the leaders service.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.analytics import models  # noqa: F401 - registers the tables on the metadata
from services.analytics.clients import HttpLeadersDirectory
from services.analytics.config import Settings, get_settings
from services.analytics.db import inbox, metadata, outbox
from services.analytics.figures.router import community_router, ops_router
from services.analytics.privacy.router import router as privacy_router
from services.analytics.segments.router import router as segments_router
from services.analytics.subscriptions import build_handlers
from services.analytics.tags.router import customers_router, tags_router
from services.common.app import build_service_app
from services.common.auth import ServiceTokens
from services.common.events.wiring import ServiceEvents
from services.common.production import ensure_service_production_ready


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    ensure_service_production_ready("analytics", settings)
    tokens = ServiceTokens.from_settings(settings, "analytics")
    leaders = HttpLeadersDirectory(settings.leaders_url, tokens, timeout_seconds=settings.upstream_timeout_seconds)

    async def close_clients(app: FastAPI) -> None:
        await leaders.aclose()

    return build_service_app(
        service="analytics",
        title="Analytics service",
        settings=settings,
        metadata=metadata,
        routers=[
            segments_router,
            community_router,
            ops_router,
            tags_router,
            customers_router,
            privacy_router,
        ],
        on_shutdown=[close_clients],
        extra_state={"leaders": leaders, "service_tokens": tokens},
        events=ServiceEvents(outbox=outbox, inbox=inbox, handlers=build_handlers(settings.tz)),
    )
