"""Each event counts once, the figures do not depend on how different aggregates' events interleave, and a rebuild
from the producers' outboxes gives the figures incremental delivery gave."""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from services.analytics.models import leader_daily
from services.analytics.rebuild import HttpOutboxSource, rebuild
from services.common.clock import local_date, utcnow
from services.common.events.store import Event
from services.common.testing import StaticServiceTokens, asgi_client, bearer, reset_database
from tests.analytics.conftest import OPS, SHANGHAI, Feed, deliver, manager, ok, sources_of
from tests.analytics.scenario import scripted_week

RANGE = {"from": "2025-03-01", "to": "2025-03-07"}


async def snapshot(app: FastAPI) -> dict[str, Any]:
    """Every figure a reader can ask for about the scripted week."""
    async with asgi_client(app) as client:

        async def get(path: str, **params: Any) -> Any:
            return ok(await client.get(path, params=params, headers=OPS))

        figures: dict[str, Any] = {"overview": await get("/api/v1/analytics/overview", **RANGE)}
        for leader_id in ("l1", "l2"):
            base = f"/api/v1/leaders/{leader_id}"
            figures[leader_id] = {
                "stats": await get(f"{base}/community/stats", **RANGE),
                "cohorts": await get(f"{base}/community/cohorts", weeks=3),
                "activity": await get(f"{base}/community/activity", **RANGE),
                "segments": await get(f"{base}/community/segments"),
                "members": await get(f"{base}/community/segments/all/members"),
                "churned": await get(f"{base}/community/segments/churned/members"),
                "dashboard": await get(f"{base}/dashboard"),
            }
        figures["ranking"] = await get("/api/v1/analytics/leaders", **RANGE)
        figures["alerts"] = await get("/api/v1/analytics/alerts", week="2025-03-07")
        return figures


async def test_redelivering_every_event_changes_nothing(analytics_app: FastAPI, feed: Feed) -> None:
    await scripted_week(feed)
    before = await snapshot(analytics_app)
    assert [await deliver(analytics_app, event) for event in feed.events] == [False] * len(feed.events)
    assert await snapshot(analytics_app) == before


async def test_the_same_fact_published_twice_under_new_event_ids_counts_once(
    analytics_app: FastAPI, feed: Feed
) -> None:
    await scripted_week(feed)
    before = await snapshot(analytics_app)
    for event in feed.events:
        again = event.model_copy(update={"id": str(uuid.uuid4())})
        await deliver(analytics_app, again)  # applied by the inbox, but its fact is already there
    assert await snapshot(analytics_app) == before


def interleavings(events: list[Event], seed: int) -> list[Event]:
    """A random merge that keeps each aggregate's events in their order (what the relays guarantee)."""
    queues: dict[str, list[Event]] = {}
    for event in events:
        queues.setdefault(event.aggregate, []).append(event)
    rng = random.Random(seed)
    merged = []
    while queues:
        aggregate = rng.choice(sorted(queues))
        merged.append(queues[aggregate].pop(0))
        if not queues[aggregate]:
            del queues[aggregate]
    return merged


async def test_figures_do_not_depend_on_how_aggregates_interleave(analytics_app: FastAPI, feed: Feed) -> None:
    await scripted_week(feed)
    expected = await snapshot(analytics_app)
    for seed in (1, 2, 3):
        await reset_database(analytics_app.state.db)
        for event in interleavings(feed.events, seed):
            assert await deliver(analytics_app, event)
        assert await snapshot(analytics_app) == expected, seed


async def test_a_rebuild_from_scratch_gives_the_incremental_figures(analytics_app: FastAPI, feed: Feed) -> None:
    await scripted_week(feed)
    incremental = await snapshot(analytics_app)
    # Something the live read model got wrong (or a lost table) is gone after the rebuild.
    async with analytics_app.state.db.transaction() as session:
        conn = await session.connection()
        await conn.execute(leader_daily.update().values(gmv_fen=leader_daily.c.gmv_fen + 999))
    assert await snapshot(analytics_app) != incremental

    stats = await rebuild(
        analytics_app.state.db, sources_of(feed.events), settings=analytics_app.state.settings, page_size=7
    )
    assert stats.read == stats.applied == len(feed.events)
    assert await snapshot(analytics_app) == incremental


async def test_a_rebuild_keeps_the_tags_ops_put_on_customers(
    analytics_app: FastAPI, feed: Feed, client: httpx.AsyncClient
) -> None:
    await scripted_week(feed)
    ok(await client.post("/api/v1/customer-tags", json={"code": "vip", "name": "VIP"}, headers=OPS), 201)
    ok(await client.put("/api/v1/customers/u5/tags/vip", headers=OPS))
    await rebuild(analytics_app.state.db, sources_of(feed.events), settings=analytics_app.state.settings)
    body = ok(await client.get("/api/v1/leaders/l1/community/segments?tag=vip", headers=OPS))
    assert {s["segment"]: s["members"] for s in body["segments"]}["all"] == 1


async def test_a_rebuild_reads_the_producers_outboxes_over_http(
    analytics_app: FastAPI, leaders_client: httpx.AsyncClient, leaders_app: FastAPI
) -> None:
    """The real path: the leaders service's `/internal/outbox`, paged, with a service token."""
    # The leaders service dates joins by its own clock: the figures are asked for every business day they can fall
    # on, which is one day unless the test runs across midnight in Shanghai.
    first_day = local_date(utcnow(), SHANGHAI).isoformat()
    pickup = {"name": "Shop", "address": "1 Road", "community": "Garden"}
    application = {"name": "Wang", "phone": "13800138000", "pickup_point": pickup}
    applied = ok(
        await leaders_client.post("/api/v1/leader-applications", json=application, headers=customer("lx")), 201
    )
    approval = {"manager_id": "m9"}
    url = f"/api/v1/leader-applications/{applied['id']}/approve"
    ok(await leaders_client.post(url, json=approval, headers=OPS))
    for member in ("c1", "c2", "c3"):
        ok(await leaders_client.post("/api/v1/leaders/lx/members", headers=customer(member)))
    ok(await leaders_client.delete("/api/v1/leaders/lx/members/me", headers=customer("c3")), 204)

    tokens = StaticServiceTokens("analytics")
    async with asgi_client(leaders_app, base_url="http://leaders") as http:
        source = HttpOutboxSource("leaders", "http://leaders", http, tokens)
        stats = await rebuild(analytics_app.state.db, [source], settings=analytics_app.state.settings, page_size=2)
    # leader.status_changed and leader.updated on approval, three joins, one leave.
    # Seven read: the approval's audit entry (for accounts' audit trail) is in the outbox too, and not applied here.
    assert stats.by_source == {"leaders": 7} and stats.applied == 6
    today = local_date(utcnow(), SHANGHAI).isoformat()
    async with asgi_client(analytics_app) as client:
        # The manager named at approval may read the community: analytics learnt it from leader.updated.
        body = ok(await client.get("/api/v1/leaders/lx/community/stats", params={"from": first_day, "to": today},
                                   headers=manager("m9")))  # fmt: skip
    assert (body["members_joined"], body["members_left"], body["members_total"]) == (3, 1, 2)


def customer(sub: str) -> dict[str, str]:
    return bearer(sub, ["customer"])
