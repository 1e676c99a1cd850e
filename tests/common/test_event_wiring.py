"""The relay pushes each event type to the services in `SUBSCRIPTIONS`; that table must match what they handle."""

from __future__ import annotations

import importlib

import pytest

from services.common.events.bus import SUBSCRIPTIONS, subscribers_of
from services.common.events.contract import ORDER_CANCELLED, ORDER_PAID, ORDER_PICKED_UP, ORDER_REFUNDED
from services.common.testing import asgi_client
from tests.conftest import AppFactory


@pytest.mark.parametrize("service", ["leaders", "orders", "points", "accounts"])
def test_subscription_table_matches_the_handlers_of_each_consumer(service: str) -> None:
    handlers = importlib.import_module(f"services.{service}.subscriptions").HANDLERS
    assert set(handlers) == set(SUBSCRIPTIONS[service])


def test_the_order_life_reaches_leaders_and_points() -> None:
    assert subscribers_of(ORDER_PAID) == ["leaders", "points"]
    assert subscribers_of(ORDER_PICKED_UP) == ["leaders", "points"]
    assert subscribers_of(ORDER_REFUNDED) == ["leaders", "points"]
    assert subscribers_of(ORDER_CANCELLED) == ["points"]


@pytest.mark.parametrize("service", ["leaders", "orders", "points"])
async def test_every_service_wires_the_event_endpoints(make_app: AppFactory, service: str) -> None:
    app = await make_app(service)
    async with asgi_client(app) as client:
        # Present but protected: 401 without a token (an unknown path would be 404).
        dead_letters = await client.get(f"/api/v1/events/{service}/dead-letters")
        internal = await client.post("/internal/events", json={})
    assert dead_letters.status_code == 401
    assert internal.status_code == 401  # every service consumes something (`user.erased` at least)


def test_every_event_type_has_an_owner_and_reaches_only_services_that_handle_it() -> None:
    from services.common.events import contract

    types = [value for name, value in vars(contract).items() if name.isupper() and isinstance(value, str)]
    assert types and all(contract.owner_of(t) is not None for t in types), types
    assert contract.owner_of("order.paid") == "orders" and contract.owner_of("leader.status_changed") == "leaders"
    assert contract.owner_of("user.erased") == "accounts" and contract.owner_of("referral.bound") == "points"
    assert contract.owner_of("made.up") is None
