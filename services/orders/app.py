"""The orders service: products, orders, payments, pickup, refunds, flash sales."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import build_service_app
from services.orders.config import Settings, get_settings
from services.orders.models import metadata
from services.orders.products.router import router as products_router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return build_service_app(
        service="orders",
        title="Orders service",
        settings=settings,
        metadata=metadata,
        routers=[products_router],
    )
