"""End-to-end fixtures: the real gateway wired in-process to the four real service apps.

Each service app comes from `make_app` (its own migrated, emptied database); the gateway reaches it through an
`httpx.ASGITransport` instead of the network, and records which service received each request, so a test can
tell that a request reached the service that owns its path (and not merely that something answered).

Tokens: the accounts app signs with the test key (`services.common.testing`), whose JWKS every other app and the
gateway verify with, so what accounts issues (WeChat and staff sign-in, refresh) works everywhere, as do the
`bearer(...)` tokens tests sign themselves. `Wiring` gives each service its own identity from accounts.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from services.accounts.privacy.sources import HttpExportSource
from services.common.auth import ServiceTokens, TokenSource
from services.common.events.bus import HttpBus
from services.common.events.relay import Relay
from services.common.migrate import SERVICES
from services.common.settings import development_service_secret
from services.common.testing import bearer, jwks_url_for_tests
from services.gateway.app import GatewayApp, create_app
from services.gateway.config import GatewaySettings
from services.orders.clients import (
    HttpEffectsSource,
    HttpLeaderDirectory,
    HttpPointsClient,
    UpstreamClients,
)
from services.orders.reconciliation.receiving import HttpReceivingSide
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
    # The gateway verifies with the keys the services verify with (make_app gives them the test JWKS). Rate limits
    # are off: these flows place orders faster than a person could, and whether a window has rolled over would
    # decide the outcome; tests/gateway/test_gateway_ratelimit.py tests the limits themselves.
    return GatewaySettings(
        auth_jwks_url=jwks_url_for_tests(), log_json=False, openapi_cache_seconds=0, rate_limits_enabled=False
    )


@pytest.fixture
async def service_apps(make_app: AppFactory) -> dict[str, FastAPI]:
    return {service: await make_app(service) for service in SERVICES}


@pytest.fixture
def deliveries() -> Deliveries:
    return Deliveries()


@pytest.fixture
async def e2e_gateway(service_apps: dict[str, FastAPI], deliveries: Deliveries) -> AsyncIterator[GatewayApp]:
    settings = e2e_gateway_settings()
    transports: dict[str, httpx.AsyncBaseTransport] = {
        name: RecordingTransport(name, app, deliveries) for name, app in service_apps.items()
    }
    gateway = create_app(settings, upstream_transports=transports)
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


# -- services wired to each other in-process (sync calls and the event bus) ----------------------------------

URLS = {
    "leaders": "http://leaders",
    "orders": "http://orders",
    "points": "http://points",
    "accounts": "http://accounts",
    "analytics": "http://analytics",
}


class Wiring:
    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self.apps = apps
        self.client = httpx.AsyncClient(
            mounts={url: httpx.ASGITransport(app=apps[name], raise_app_exceptions=False) for name, url in URLS.items()},
            timeout=10,
        )
        self.relays: dict[str, Relay] = {}
        for name, app in apps.items():
            app.state.bus = HttpBus(URLS, self.identity(name), client=self.client)
            outbox = importlib.import_module(f"services.{name}.db").outbox
            self.relays[name] = Relay(app.state.db, outbox.table, app.state.bus, source=name, max_attempts=3)
        self.upstream = upstream = UpstreamClients(
            timeout_seconds=10, tokens=self.identity("orders"), client=self.client
        )
        accounts = apps["accounts"]
        accounts.state.export_sources = [
            HttpExportSource(
                name, URLS[name], client=self.client, token=accounts.state.service_tokens, timeout_seconds=10
            )
            for name in ("leaders", "orders", "points", "analytics")
        ]
        orders = apps["orders"]
        orders.state.leaders = HttpLeaderDirectory(upstream, URLS["leaders"])
        orders.state.points = HttpPointsClient(upstream, URLS["points"])
        orders.state.effects = HttpEffectsSource(upstream, leaders_url=URLS["leaders"], points_url=URLS["points"])
        orders.state.receiving = HttpReceivingSide(upstream, leaders_url=URLS["leaders"], points_url=URLS["points"])

    def identity(self, service: str) -> TokenSource:
        """The service's own token: accounts signs its own; the others ask accounts with their client secret."""
        if service == "accounts":
            tokens: TokenSource = self.apps["accounts"].state.service_tokens
            return tokens
        secret = development_service_secret(service)
        return ServiceTokens(service=service, secret=secret, accounts_url=URLS["accounts"], client=self.client)

    async def deliver(self) -> int:
        """Run every relay until no event moves; returns how many were delivered."""
        total = 0
        for _ in range(20):
            moved = 0
            for relay in self.relays.values():
                stats = await relay.run_once()
                assert not stats.errors, stats.errors
                moved += stats.delivered
            total += moved
            if moved == 0:
                return total
        raise AssertionError("events kept flowing")

    async def redeliver_everything(self) -> int:
        """Mark every delivered event pending again: the bus delivers each a second time."""
        for name, relay in self.relays.items():
            async with self.apps[name].state.db.engine.begin() as conn:
                await conn.execute(update(relay.table).values(status="pending", attempts=0, next_attempt_at=None))
        return await self.deliver()


@pytest.fixture
async def wiring(service_apps: dict[str, FastAPI]) -> AsyncIterator[Wiring]:
    wired = Wiring(service_apps)
    yield wired
    await wired.client.aclose()


def ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200,)), (response.status_code, response.text)
    return response.json() if response.content else None


def past_cutoff_of(orders_app: FastAPI, order: dict[str, Any]) -> None:
    """Moves the orders service's clock to a minute after the daily cut-off that ships `order` (the evening before
    its pickup date), so a cut-off run batches it whatever the time of day the test runs at."""
    settings = orders_app.state.settings
    evening = date.fromisoformat(order["pickup_date"]) - timedelta(days=1)
    moment = (datetime.combine(evening, settings.cutoff_time, tzinfo=settings.tz) + timedelta(minutes=1)).astimezone(
        UTC
    )
    orders_app.state.clock = lambda: moment


async def pay(e2e: httpx.AsyncClient, orders_app: FastAPI, order: dict[str, Any], tx: str) -> None:
    raw = json.dumps({"order_id": order["id"], "transaction_id": tx, "amount_fen": order["payable_fen"]}).encode()
    secret = orders_app.state.settings.payment_secret.encode()
    signature = hmac.new(secret, raw, hashlib.sha256).hexdigest()
    ok(
        await e2e.post(
            "/api/v1/payments/notify",
            content=raw,
            headers={"X-Payment-Signature": signature, "Content-Type": "application/json"},
        ),
        200,
        201,
    )


async def approved_leader(e2e: httpx.AsyncClient, sub: str) -> str:
    applied = ok(
        await e2e.post(
            "/api/v1/leader-applications",
            headers=customer(sub),
            json={
                "name": "Wang Fang",
                "phone": "13800001234",
                "pickup_point": {"name": "Gate 3 kiosk", "address": "3 Garden Road", "community": "Garden Court"},
            },
        ),
        201,
    )
    approved = ok(await e2e.post(f"/api/v1/leader-applications/{applied['id']}/approve", headers=ops()))
    return str(approved["leader_id"])
