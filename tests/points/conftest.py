"""Fixtures of the points tests: a movable clock, tokens, and direct access to the service's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, select

from services.common.db import Database
from services.common.testing import asgi_client, bearer, service_bearer
from services.points.ledger.models import Account, Entry, Lot

OPS = bearer("ops1", ["ops"])
SERVICE = service_bearer("orders")
#: Newcomer points are switched off in most tests so balances are exactly what a test credits.
NO_NEWCOMER_RULES: dict[str, Any] = {"newcomer_points": 0}


def customer(sub: str) -> dict[str, str]:
    return bearer(sub, ["customer"])


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, value: datetime) -> None:
        self.now = value

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


@pytest.fixture
def clock(points_app: FastAPI) -> Clock:
    value = Clock(datetime(2025, 3, 10, 4, 0, tzinfo=UTC))  # 12:00 in Shanghai
    points_app.state.clock = value
    return value


@pytest.fixture
async def client(points_app: FastAPI, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(points_app) as c:
        yield c


async def set_rules(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    current = (await client.get("/api/v1/points/rules", headers=OPS)).json()
    body = {k: v for k, v in current.items() if k not in {"version", "created_by", "created_at"}} | changes
    response = await client.put("/api/v1/points/rules", json=body, headers=OPS)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def grant(client: httpx.AsyncClient, user_id: str, points: int, reason: str = "test credit") -> None:
    response = await client.post(
        "/api/v1/points/adjustments", json={"user_id": user_id, "points": points, "reason": reason}, headers=OPS
    )
    assert response.status_code == 201, response.text


async def account(app: FastAPI, user_id: str) -> Account | None:
    db: Database = app.state.db
    async with db.sessionmaker() as session:
        return (await session.exec(select(Account).where(Account.user_id == user_id))).one_or_none()


async def entries(app: FastAPI, user_id: str) -> list[Entry]:
    async with app.state.db.sessionmaker() as session:
        query = select(Entry).where(Entry.user_id == user_id).order_by(col(Entry.id))
        return list((await session.exec(query)).all())


async def lots(app: FastAPI, user_id: str) -> list[Lot]:
    async with app.state.db.sessionmaker() as session:
        query = select(Lot).where(Lot.user_id == user_id).order_by(col(Lot.id))
        return list((await session.exec(query)).all())


async def assert_ledger_consistent(app: FastAPI, user_id: str) -> None:
    """Every balance_after is the running sum; the account equals the last entry; lots hold max(balance, 0)."""
    rows = await entries(app, user_id)
    balance = held = 0
    for entry in rows:
        balance += entry.points
        held += entry.held_change
        assert entry.balance_after == balance, entry
        assert entry.held_after == held, entry
    acct = await account(app, user_id)
    assert acct is not None
    assert (acct.balance, acct.held) == (balance, held)
    assert held >= 0
    assert sum(lot.remaining for lot in await lots(app, user_id)) == max(balance, 0)
