"""Random histories: live delivery (one event per transaction) and a rebuild (pages, counters written per page)
leave the same read model, whatever the page size, with facts published twice among them."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.analytics import models
from services.analytics.rebuild import rebuild
from tests.analytics.conftest import Feed, deliver, local, sources_of


async def random_history(feed: Feed, seed: int) -> None:
    rng = random.Random(seed)
    start = local(2025, 2, 1, 8)
    members: dict[str, str | None] = {f"u{i}": None for i in range(30)}  # person -> leader now
    orders: list[Any] = []
    for step in range(220):
        at = start + timedelta(hours=7 * step + rng.randrange(6))
        person = rng.choice(sorted(members))
        roll = rng.random()
        if roll < 0.25:
            current = members[person]
            if current is None:
                leader_id = rng.choice(["l1", "l2", "l3"])
                await feed.join(leader_id, person, at)
                members[person] = leader_id
            else:
                await feed.leave(current, person, at)
                members[person] = None
        elif roll < 0.75:
            leader_id = members[person] or rng.choice(["l1", "l2", "l3"])
            lines = [
                (p, f"Product {p}", rng.randrange(1, 4), rng.randrange(100, 5000)) for p in rng.sample(range(6), 2)
            ]
            orders.append(await feed.paid(1000 + step, leader_id, person, lines, at, points_used=rng.randrange(50)))
        elif roll < 0.85 and orders:
            order = rng.choice(orders)
            line = rng.choice(order.lines)
            await feed.refunded(order, [(line.product_id, 1, line.paid_fen // 3)], at)
        elif roll < 0.9 and orders:
            await feed.picked_up(rng.choice(orders), at)
        else:
            await feed.signed_in(person, at)


async def read_model(app: FastAPI) -> dict[str, list[tuple[Any, ...]]]:
    tables = [t for t in models.DERIVED_TABLES if t is not models.memberships]  # its ids are a sequence
    async with app.state.db.reading() as session:
        conn = await session.connection()
        found = {t.name: sorted(tuple(r) for r in await conn.execute(select(t))) for t in tables}
        spans = select(*(c for c in models.memberships.c if c.name != "id"))
        found["memberships"] = sorted(tuple(r) for r in await conn.execute(spans))
    return found


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_rebuild_in_pages_leaves_the_read_model_live_delivery_built(
    analytics_app: FastAPI, feed: Feed, seed: int
) -> None:
    await random_history(feed, seed)
    for event in feed.events[::5]:  # a fifth of the facts published a second time, under new ids
        again = event.model_copy(update={"id": str(uuid.uuid4())})
        feed.events.append(again)
        await deliver(analytics_app, again)
    live = await read_model(analytics_app)
    assert live["orders"] and live["member_daily"] and live["memberships"]
    for page_size in (1, 13, 1000):
        await rebuild(analytics_app.state.db, sources_of(feed.events), settings=analytics_app.state.settings,
                      page_size=page_size)  # fmt: skip
        assert await read_model(analytics_app) == live, page_size
