"""Two replicas of the points service expiring points at the same moment on one PostgreSQL database: each lot
expires once, whether they race outright or take turns under the job lock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from services.common.jobs import run_exclusively
from services.points.ledger.jobs import expiry_job
from services.points.ledger.models import PointsEntryKind
from tests.conftest import AppFactory
from tests.points.conftest import NO_NEWCOMER_RULES, assert_ledger_consistent, entries, grant, set_rules

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("locked", [True, False], ids=["taking turns", "racing"])
async def test_two_replicas_expire_each_lot_once(
    make_app: AppFactory, points_app: FastAPI, client: Any, locked: bool
) -> None:
    second = await make_app("points")
    await set_rules(client, **NO_NEWCOMER_RULES)
    users = [f"u{i}" for i in range(1, 11)]
    for user in users:
        await grant(client, user, 100)  # each lot expires at the end of March next year
    after = datetime(2026, 4, 1, 4, tzinfo=UTC)
    for app in (points_app, second):
        app.state.clock = lambda: after

    async def expire(app: FastAPI) -> Any:
        if locked:
            return await run_exclusively(app, "expiry_job", expiry_job)
        return await expiry_job(app)

    outcomes = await asyncio.gather(expire(points_app), expire(second))
    if not locked:
        assert sum(outcomes) == 100 * len(users)  # every point expired by exactly one of them
    for user in users:
        kinds = [entry.kind for entry in await entries(points_app, user)]
        assert kinds.count(PointsEntryKind.EXPIRE) == 1, kinds
        await assert_ledger_consistent(points_app, user)
