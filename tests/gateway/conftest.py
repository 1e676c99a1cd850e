"""Fixtures for the gateway tests: a gateway wired in-process to the stand-in services of `gateway_standins`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import GatewayApp, create_app
from tests.gateway.gateway_standins import (
    GatewayFactory,
    accounts_app,
    analytics_app,
    gateway_settings,
    leaders_app,
    orders_app,
    points_app,
)


@pytest.fixture
def upstream_apps() -> dict[str, FastAPI]:
    return {
        "accounts": accounts_app(),
        "leaders": leaders_app(),
        "orders": orders_app(),
        "points": points_app(),
        "analytics": analytics_app(),
    }


@pytest.fixture
def make_gateway(upstream_apps: dict[str, FastAPI]) -> GatewayFactory:
    """Build a started gateway and a client for it; `transports` replaces some stand-ins (down, counting...)."""

    @asynccontextmanager
    async def build(
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None, **settings: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        wired: dict[str, httpx.AsyncBaseTransport] = {
            name: httpx.ASGITransport(app=app) for name, app in upstream_apps.items()
        }
        wired.update(transports or {})
        gateway: GatewayApp = create_app(gateway_settings(**settings), upstream_transports=wired)
        async with (
            gateway.running(),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.test") as c,
        ):
            yield c

    return build


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_gateway() as client:
        yield client
