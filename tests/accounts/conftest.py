"""Fixtures of the accounts tests: the app on its own migrated database, a key directory per test, a movable
clock, a cheap Argon2 cost, and helpers that sign in the way clients do."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.accounts.db import outbox
from services.accounts.staff.passwords import fast_test_hasher
from services.common.events.contract import LEADER_STATUS_CHANGED, LeaderStatusChanged
from services.common.events.store import Event
from services.common.jwks import KeySet, VerifiedToken
from services.common.settings import development_service_secret
from services.common.testing import asgi_client
from tests.conftest import AppFactory

START = datetime(2025, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
ADMIN_PASSWORD = "correct horse battery"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


def age_key_files(directory: Path, moment: datetime) -> None:
    """Give every key file the modification time `moment` (a key signs only once it is old enough)."""
    for path in directory.glob("*.pem"):
        os.utime(path, (moment.timestamp(), moment.timestamp()))


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def accounts_app(make_app: AppFactory, keys_dir: Path, clock: Clock) -> FastAPI:
    app = await make_app("accounts", signing_keys_dir=keys_dir, dev_auth=True)
    app.state.clock = clock
    app.state.passwords = fast_test_hasher()
    return app


@pytest.fixture
async def accounts_client(accounts_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(accounts_app) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


async def wechat_sign_in(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    result: dict[str, Any] = ok(await client.post("/api/v1/auth/wechat", json={"code": code}))
    return result


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


async def dev_token(client: httpx.AsyncClient, sub: str, roles: list[str]) -> dict[str, str]:
    body = ok(await client.post("/api/v1/auth/dev-token", json={"sub": sub, "roles": roles}))
    return auth(body["access_token"])


async def ops(client: httpx.AsyncClient) -> dict[str, str]:
    return await dev_token(client, "s_ops", ["ops"])


async def create_staff(
    client: httpx.AsyncClient, username: str, roles: list[str], password: str = ADMIN_PASSWORD, **fields: Any
) -> dict[str, Any]:
    body = {"username": username, "display_name": username.title(), "roles": roles, "password": password, **fields}
    result: dict[str, Any] = ok(await client.post("/api/v1/staff", json=body, headers=await ops(client)), 201)
    return result


async def staff_sign_in(client: httpx.AsyncClient, username: str, password: str = ADMIN_PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/staff", json={"username": username, "password": password})


async def claims(app: FastAPI, token: str) -> VerifiedToken:
    """Verify a token the way another service will: through a `KeySet` fed by the published JWKS."""
    async with asgi_client(app) as client:
        document = ok(await client.get("/.well-known/jwks.json"))

    async def fetch() -> dict[str, Any]:
        return dict(document)

    return await KeySet(fetch).verify(token, now=app.state.clock().timestamp())


def leader_status_event(user_id: str, status: str, at: datetime, *, source: str = "leaders") -> dict[str, Any]:
    payload = LeaderStatusChanged(leader_id=user_id, status=status, at=at)
    event = Event(
        id=str(uuid.uuid4()),
        type=LEADER_STATUS_CHANGED,
        occurred_at=at,
        source=source,
        aggregate=f"leader:{user_id}",
        data=payload.model_dump(mode="json"),
    )
    return event.model_dump(mode="json")


async def service_headers(client: httpx.AsyncClient, service: str = "leaders") -> dict[str, str]:
    """A service identity's token, issued by the accounts app itself for the development secret."""
    body = {"service": service, "secret": development_service_secret(service)}
    return auth(ok(await client.post("/internal/service-tokens", json=body))["access_token"])


async def push(client: httpx.AsyncClient, event: dict[str, Any], *, sender: str = "leaders") -> httpx.Response:
    """Push an event to accounts the way `sender`'s relay does."""
    return await client.post("/internal/events", json=event, headers=await service_headers(client, sender))


async def deliver(client: httpx.AsyncClient, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = ok(await push(client, event))
    return result


async def outbox_events(app: FastAPI, event_type: str) -> list[dict[str, Any]]:
    table = outbox.table
    async with app.state.db.engine.connect() as conn:
        rows = (await conn.execute(select(table.c.data).where(table.c.type == event_type).order_by(table.c.seq))).all()
    return [dict(row.data) for row in rows]
