"""The HTTP clients for the leaders and points services: shapes, service token, and clear failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.common.errors import DomainError
from services.common.jwks import INTERNAL_AUDIENCE
from services.common.testing import StaticServiceTokens, asgi_client, bearer, verifier_for_tests
from services.orders.clients import (
    HoldConflict,
    HttpLeaderDirectory,
    HttpPointsClient,
    InsufficientPoints,
    LeadersTimeout,
    LeadersUnavailable,
    PointsTimeout,
    PointsUnavailable,
    UpstreamClients,
)
from services.orders.reconciliation.receiving import HttpReceivingSide
from services.orders.reconciliation.schemas import ReconciledService
from tests.conftest import AppFactory

Handler = Callable[[httpx.Request], httpx.Response]


def upstream_with(handler: Handler) -> UpstreamClients:
    upstream = UpstreamClients(timeout_seconds=1.0, tokens=StaticServiceTokens("orders"))
    upstream._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return upstream


def problem(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"type": "x", "title": "t", "status": status, "detail": "why", "code": code})


async def test_leader_lookup_sends_a_service_token_and_parses_the_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/nobody"):
            return problem(404, "LEADER_NOT_FOUND")
        body = {"leader_id": "u 1", "status": "active", "level": "gold", "pickup_point": {"name": "P"}}
        return httpx.Response(200, json=body)

    leaders = HttpLeaderDirectory(upstream_with(handler), "http://leaders", cache_seconds=60)
    info = await leaders.get_leader("u 1")
    assert info is not None and info.is_active and info.pickup_point == {"name": "P"}
    assert seen[0].url.raw_path == b"/internal/leaders/u%201"
    caller = await verifier_for_tests().verify(seen[0].headers["authorization"].split()[1], INTERNAL_AUDIENCE)
    assert caller.service == "orders"
    assert await leaders.get_leader("nobody") is None
    await leaders.get_leader("u 1")
    assert len(seen) == 2  # the second lookup of u 1 came from the short cache
    await leaders.get_leader("u 1", fresh=True)
    assert len(seen) == 3  # a leader's own action asks again, whatever is cached


async def test_lookups_of_one_leader_share_one_request_while_it_is_in_flight() -> None:
    calls: list[str] = []
    asked, release = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        asked.set()
        await release.wait()
        return httpx.Response(200, json={"leader_id": "L1", "status": "active"})

    upstream = UpstreamClients(timeout_seconds=5.0, tokens=StaticServiceTokens("orders"))
    upstream._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    leaders = HttpLeaderDirectory(upstream, "http://leaders", cache_seconds=0)
    waiting = [asyncio.ensure_future(leaders.get_leader("L1")) for _ in range(50)]
    await asked.wait()
    waiting[0].cancel()  # one buyer gives up: the others still get their answer
    release.set()
    answers = await asyncio.gather(*waiting[1:])
    assert calls == ["/internal/leaders/L1"]
    assert all(info is not None and info.is_active for info in answers)
    await leaders.get_leader("L1")
    assert len(calls) == 2  # nothing cached (cache_seconds=0): the next lookup asks again


async def test_while_leaders_fails_a_recent_answer_serves_but_a_leaders_own_action_still_asks() -> None:
    failing = False

    def handler(request: httpx.Request) -> httpx.Response:
        if failing:
            return httpx.Response(503)
        return httpx.Response(200, json={"leader_id": "L1", "status": "active"})

    clock = [1000.0]
    leaders = HttpLeaderDirectory(upstream_with(handler), "http://leaders", cache_seconds=5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("services.orders.clients.time.monotonic", lambda: clock[0])
        assert (await leaders.get_leader("L1")) is not None
        failing = True
        clock[0] += 60  # the cache expired; leaders now fails
        info = await leaders.get_leader("L1")
        assert info is not None and info.is_active  # the last answer serves
        with pytest.raises(LeadersUnavailable):
            await leaders.get_leader("L1", fresh=True)
        clock[0] += 1000  # too old to stand in for leaders
        with pytest.raises(LeadersUnavailable):
            await leaders.get_leader("L1")
        with pytest.raises(LeadersUnavailable):
            await leaders.get_leader("L2")  # never answered: nothing to serve


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (httpx.ConnectError("refused"), LeadersUnavailable),
        (httpx.ReadTimeout("slow"), LeadersTimeout),
        (None, LeadersUnavailable),  # a 500 from upstream
    ],
)
async def test_leader_lookup_failures_are_clear_problems(
    failure: Exception | None, expected: type[DomainError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if failure is not None:
            raise failure
        return httpx.Response(500)

    with pytest.raises(expected) as raised:
        await HttpLeaderDirectory(upstream_with(handler), "http://leaders").get_leader("L1")
    assert raised.value.status in (503, 504)


async def test_points_hold_and_release_shapes() -> None:
    seen: list[tuple[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.url.path, body))
        if request.url.path.endswith("/release"):
            return httpx.Response(200, json={"status": "released"})
        return httpx.Response(
            200, json={"order_id": 7, "user_id": "c1", "points": 300, "discount_fen": 300, "status": "held"}
        )

    points = HttpPointsClient(upstream_with(handler), "http://points")
    hold = await points.hold(order_id=7, user_id="c1", points=300, goods_fen=5000)
    assert (hold.points, hold.discount_fen) == (300, 300)
    await points.release(order_id=7)
    assert seen == [
        ("/internal/points/holds", {"order_id": 7, "user_id": "c1", "points": 300, "goods_fen": 5000}),
        ("/internal/points/holds/7/release", None),
    ]


@pytest.mark.parametrize(
    ("status", "code", "expected_type", "expected_code"),
    [
        (409, "INSUFFICIENT_POINTS", InsufficientPoints, "INSUFFICIENT_POINTS"),
        (409, "HOLD_CONFLICT", HoldConflict, "HOLD_CONFLICT"),
        (422, "POINTS_OVER_CAP", DomainError, "POINTS_OVER_CAP"),
        (422, "", DomainError, "POINTS_NOT_USABLE"),
    ],
)
async def test_points_refusals_pass_their_code_through(
    status: int, code: str, expected_type: type[DomainError], expected_code: str
) -> None:
    points = HttpPointsClient(upstream_with(lambda _r: problem(status, code)), "http://points")
    with pytest.raises(expected_type) as raised:
        await points.hold(order_id=1, user_id="c1", points=10, goods_fen=100)
    assert raised.value.status == status and raised.value.code == expected_code


async def test_points_service_down_or_slow() -> None:
    def down(_request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    def slow(_request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow")

    with pytest.raises(PointsUnavailable):
        await HttpPointsClient(upstream_with(down), "http://points").hold(
            order_id=1, user_id="c1", points=10, goods_fen=100
        )
    with pytest.raises(PointsTimeout):
        await HttpPointsClient(upstream_with(slow), "http://points").release(order_id=1)


async def test_the_pooled_client_is_created_once_and_closed() -> None:
    upstream = UpstreamClients(timeout_seconds=1.0, tokens=StaticServiceTokens("orders"))
    client = upstream.client
    assert upstream.client is client
    await upstream.aclose()
    assert client.is_closed


async def test_order_creation_with_the_leaders_service_down_is_503(make_app: AppFactory) -> None:
    app = await make_app("orders", leaders_url="http://127.0.0.1:9", upstream_timeout_seconds=1.0)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        response = await client.post(
            "/api/v1/orders",
            json={"leader_id": "L1", "lines": [{"product_id": 1, "quantity": 1}]},
            headers={**bearer("c1", ["customer"]), "Idempotency-Key": "k"},
        )
    assert response.status_code == 503 and response.json()["code"] == "LEADERS_UNAVAILABLE"
    assert app.state.upstream._client is None  # closed on shutdown


async def test_the_receiving_side_asks_each_consumer_window_by_window_and_page_by_page() -> None:
    seen: list[tuple[str, dict[str, object]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, body))
        if request.url.host == "points":
            return httpx.Response(200, json={"order_ids": [7], "next_after": None})
        # Leaders: the first window has two pages, the second one id.
        if body.get("after") is None and body["since"].startswith("2026-11-01"):
            return httpx.Response(200, json={"order_ids": [1, 2], "next_after": 2})
        if body.get("after") == 2:
            return httpx.Response(200, json={"order_ids": [3], "next_after": None})
        return httpx.Response(200, json={"order_ids": [3, 9], "next_after": None})

    receiving = HttpReceivingSide(upstream_with(handler), leaders_url="http://leaders", points_url="http://points")
    since = datetime(2026, 11, 1, tzinfo=UTC)
    until = since + timedelta(days=40)
    found = await receiving.orders_with_effects(since=since, until=until)
    assert found == {ReconciledService.LEADERS: {1, 2, 3, 9}, ReconciledService.POINTS: {7}}
    second = (since + timedelta(days=31)).isoformat()
    leaders = [(b["since"], b["until"], b.get("after")) for path, b in seen if path.endswith("/commission/orders")]
    assert leaders == [
        (since.isoformat(), second, None),
        (since.isoformat(), second, 2),
        (second, until.isoformat(), None),
    ]
    points = [(b["since"], b["until"]) for path, b in seen if path == "/internal/reconciliation/points/orders"]
    assert points == [(since.isoformat(), second), (second, until.isoformat())]


@pytest.mark.parametrize(
    ("failure", "url", "expected"),
    [
        (httpx.ConnectError("refused"), "leaders", LeadersUnavailable),
        (httpx.ReadTimeout("slow"), "leaders", LeadersTimeout),
        (None, "leaders", LeadersUnavailable),  # a 500 (or a refusal) from upstream
        (httpx.ConnectError("refused"), "points", PointsUnavailable),
        (httpx.ReadTimeout("slow"), "points", PointsTimeout),
        (None, "points", PointsUnavailable),
    ],
)
async def test_receiving_side_failures_are_clear_problems(
    failure: Exception | None, url: str, expected: type[DomainError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host != url:
            return httpx.Response(200, json={"order_ids": [], "next_after": None})
        if failure is not None:
            raise failure
        return httpx.Response(500)

    receiving = HttpReceivingSide(upstream_with(handler), leaders_url="http://leaders", points_url="http://points")
    since = datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(expected) as raised:
        await receiving.orders_with_effects(since=since, until=since + timedelta(days=1))
    assert raised.value.status in (503, 504)
