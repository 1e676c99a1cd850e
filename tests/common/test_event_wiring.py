"""The relay pushes each event type to the services in `SUBSCRIPTIONS`; that table must match what they handle."""

from __future__ import annotations

import importlib
from zoneinfo import ZoneInfo

import pytest

from services.analytics.subscriptions import HANDLED_EVENT_TYPES, build_handlers
from services.common.events.bus import SUBSCRIPTIONS, subscribers_of
from services.common.events.contract import ORDER_CANCELLED, ORDER_PAID, ORDER_PICKED_UP, ORDER_REFUNDED
from services.common.testing import asgi_client, bearer, service_bearer
from services.leaders import subscriptions as leaders_subscriptions
from services.leaders.config import Settings as LeadersSettings
from tests.conftest import AppFactory


@pytest.mark.parametrize("service", ["orders", "points", "accounts"])
def test_subscription_table_matches_the_handlers_of_each_consumer(service: str) -> None:
    handlers = importlib.import_module(f"services.{service}.subscriptions").HANDLERS
    assert set(handlers) == set(SUBSCRIPTIONS[service])


def test_leaders_subscribes_to_every_event_it_has_a_handler_for() -> None:
    assert set(SUBSCRIPTIONS["leaders"]) == leaders_subscriptions.HANDLED_EVENT_TYPES
    assert set(leaders_subscriptions.build_handlers(LeadersSettings())) == leaders_subscriptions.HANDLED_EVENT_TYPES


def test_analytics_subscribes_to_every_event_it_has_a_handler_for() -> None:
    assert SUBSCRIPTIONS["analytics"] == HANDLED_EVENT_TYPES
    assert set(build_handlers(ZoneInfo("UTC"))) == HANDLED_EVENT_TYPES


def test_the_order_life_reaches_leaders_points_and_analytics() -> None:
    assert subscribers_of(ORDER_PAID) == ["analytics", "leaders", "points"]
    assert subscribers_of(ORDER_PICKED_UP) == ["analytics", "leaders", "points"]
    assert subscribers_of(ORDER_REFUNDED) == ["analytics", "leaders", "points"]
    assert subscribers_of(ORDER_CANCELLED) == ["analytics", "points"]


@pytest.mark.parametrize("service", ["leaders", "orders", "points", "analytics"])
async def test_every_service_wires_the_event_endpoints(make_app: AppFactory, service: str) -> None:
    app = await make_app(service)
    async with asgi_client(app) as client:
        # Present but protected: 401 without a token (an unknown path would be 404).
        dead_letters = await client.get(f"/api/v1/events/{service}/dead-letters")
        internal = await client.post("/internal/events", json={})
    assert dead_letters.status_code == 401
    assert internal.status_code == 401  # every service consumes something (`user.erased` at least)


async def test_a_producer_pages_through_every_event_it_published_for_services_only(make_app: AppFactory) -> None:
    app = await make_app("points")
    outbox = importlib.import_module("services.points.db").outbox
    async with app.state.db.transaction() as session:
        for n in range(5):
            await outbox.record(session, type="points.test", aggregate=f"user:{n % 2}", data={"n": n})
        await (await session.connection()).execute(
            outbox.table.update().where(outbox.table.c.seq <= 2).values(status="delivered")
        )
    service = service_bearer("analytics")
    async with asgi_client(app) as client:
        pages, after = [], 0
        while True:
            response = await client.get("/internal/outbox", params={"after_seq": after, "limit": 2}, headers=service)
            assert response.status_code == 200, response.text
            page = response.json()
            pages.append([event["data"]["n"] for event in page["events"]])
            if page["next_after_seq"] is None:
                break
            after = page["next_after_seq"]
        assert pages == [[0, 1], [2, 3], [4]]  # delivered or not, in the order they were written
        first = (await client.get("/internal/outbox", params={"limit": 1}, headers=service)).json()["events"][0]
        assert (first["source"], first["aggregate"], first["type"]) == ("points", "user:0", "points.test")
        for headers in ({}, bearer("ops1", ["ops"]), bearer("u1", ["customer"])):
            assert (await client.get("/internal/outbox", headers=headers)).status_code in (401, 403)
        assert (await client.get("/internal/outbox?limit=0", headers=service)).status_code == 422


def test_every_event_type_has_an_owner_and_reaches_only_services_that_handle_it() -> None:
    from services.common.events import contract

    types = [value for name, value in vars(contract).items() if name.isupper() and isinstance(value, str)]
    assert types and all(contract.owner_of(t, "orders") is not None for t in types), types
    assert contract.owner_of("order.paid") == "orders" and contract.owner_of("leader.status_changed") == "leaders"
    assert contract.owner_of("user.erased") == "accounts" and contract.owner_of("referral.bound") == "points"
    assert contract.owner_of("made.up") is None
    # Every service owns its own audit entries, and only its own: the owner is whoever the envelope says sent it.
    assert contract.owner_of("audit.recorded", "leaders") == "leaders" and contract.owner_of("audit.recorded") is None
