"""End-to-end fixtures: the real gateway wired in-process to the three real service apps.

Each service app comes from `make_app` (its own migrated, emptied database); the gateway reaches it through an
`httpx.ASGITransport` instead of the network, and records which service received each request, so a test can
tell that a request reached the service that owns its path (and not merely that something answered).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI

from services.common.migrate import SERVICES
from services.common.testing import TEST_JWT_SECRET, bearer
from services.gateway.app import GatewayApp, create_app
from services.gateway.config import GatewaySettings
from tests.conftest import AppFactory

GATEWAY_BASE_URL = "http://gateway.test"


@dataclass
class Deliveries:
    """What reached each service through the gateway: (service, method, path), in order."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def services_for(self, path: str) -> list[str]:
        return [service for service, _, seen_path in self.seen if seen_path == path]


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, service: str, app: FastAPI, deliveries: Deliveries) -> None:
        self._service = service
        self._deliveries = deliveries
        # raise_app_exceptions=False: a service's 500 reaches the gateway as the problem response it would send.
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._deliveries.seen.append((self._service, request.method, request.url.path))
        return await self._inner.handle_async_request(request)


def e2e_gateway_settings() -> GatewaySettings:
    # The gateway signs dev tokens with the key the services verify (make_app gives them TEST_JWT_SECRET).
    return GatewaySettings(dev_auth=True, jwt_secret=TEST_JWT_SECRET, log_json=False, openapi_cache_seconds=0)


@pytest.fixture
async def service_apps(make_app: AppFactory) -> dict[str, FastAPI]:
    return {service: await make_app(service) for service in SERVICES}


@pytest.fixture
def deliveries() -> Deliveries:
    return Deliveries()


@pytest.fixture
async def e2e_gateway(service_apps: dict[str, FastAPI], deliveries: Deliveries) -> AsyncIterator[GatewayApp]:
    transports: dict[str, httpx.AsyncBaseTransport] = {
        name: RecordingTransport(name, app, deliveries) for name, app in service_apps.items()
    }
    gateway = create_app(e2e_gateway_settings(), upstream_transports=transports)
    async with gateway.running():
        yield gateway


@pytest.fixture
async def e2e(e2e_gateway: GatewayApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway, which forwards to the real services."""
    transport = httpx.ASGITransport(app=e2e_gateway, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=GATEWAY_BASE_URL) as client:
        yield client


def ops() -> dict[str, str]:
    return bearer("e2e-ops", ["ops"])


def customer(sub: str = "e2e-customer") -> dict[str, str]:
    return bearer(sub, ["customer"])
