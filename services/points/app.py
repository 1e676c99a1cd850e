"""The points service."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import build_service_app
from services.points.config import Settings, get_settings
from services.points.models import metadata


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return build_service_app(
        service="points",
        title="Points service",
        settings=settings,
        metadata=metadata,
        routers=[],
    )
