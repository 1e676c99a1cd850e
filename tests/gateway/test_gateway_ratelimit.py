"""Rate limits at the gateway: 429 with Retry-After past a route's limits, per user and per client address, in
memory or in Redis (shared by every gateway process)."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import pytest
import redis.asyncio
from fastapi import FastAPI
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from services.common.testing import bearer
from services.gateway.app import create_app
from services.gateway.ratelimit import (
    LIMITED_ROUTES,
    ClientAddress,
    Limit,
    LocalWindows,
    RateLimiter,
    Rule,
    RuleTable,
    parse_limits,
    parse_networks,
    rules_from_settings,
    storage_for,
)
from tests.gateway.gateway_standins import CountingTransport, GatewayFactory, gateway_settings

ALICE = bearer("u_alice", ["customer"])
BOB = bearer("u_bob", ["customer"])
FLASH = "/api/v1/flash-sales/7/orders"


def assert_rate_limited(response: httpx.Response, window_seconds: int) -> int:
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "RATE_LIMITED"
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit()
    assert 1 <= int(retry_after) <= window_seconds + 1  # + 1 only exactly at a window's start
    return int(retry_after)


async def statuses(client: httpx.AsyncClient, path: str, count: int, **kwargs: Any) -> Counter[int]:
    return Counter([(await client.post(path, **kwargs)).status_code for _ in range(count)])


# -- through the gateway (memory storage) ---------------------------------------------------------------------------


async def test_a_sign_in_burst_gets_429_with_retry_after_past_the_limit(make_gateway: GatewayFactory) -> None:
    async with make_gateway(rate_limit_sign_in_per_address="5/minute") as gateway:
        passed = [await gateway.post("/api/v1/auth/wechat", json={"code": "x"}) for _ in range(5)]
        assert [r.status_code for r in passed] == [200] * 5  # under the limit: every one reaches accounts
        assert_rate_limited(await gateway.post("/api/v1/auth/staff", json={}), 60)  # one limit for all sign-ins
        assert_rate_limited(await gateway.post("/api/v1/auth/refresh", json={}), 60)
        # Logout is not sign-in, and other routes are not limited.
        assert (await gateway.post("/api/v1/auth/logout", headers=ALICE)).status_code == 200
        assert (await gateway.get("/api/v1/products")).status_code == 200


async def test_a_refused_request_never_reaches_the_service(
    make_gateway: GatewayFactory, upstream_apps: dict[str, FastAPI]
) -> None:
    orders = CountingTransport(upstream_apps["orders"])
    async with make_gateway(transports={"orders": orders}, rate_limit_flash_per_user="3/minute") as gateway:
        counted = await statuses(gateway, FLASH, 10, headers=ALICE, json={"quantity": 1})
    assert counted[429] == 7
    assert orders.paths == [FLASH] * 3


async def test_the_per_user_limit_does_not_use_up_another_users_address_budget(make_gateway: GatewayFactory) -> None:
    limits = {"rate_limit_orders_per_user": "3/minute", "rate_limit_orders_per_address": "5/minute"}
    async with make_gateway(**limits) as gateway:
        alice = await statuses(gateway, "/api/v1/orders", 20, headers=ALICE, json={})
        bob = await statuses(gateway, "/api/v1/orders", 20, headers=BOB, json={})
    # Alice's 17 refused requests did not count against the address: Bob, from the same address, is refused only
    # once the address's 5 are used (3 by Alice, 2 by him), not because of Alice's flood.
    assert alice[429] == 17
    assert bob[429] == 18


async def test_users_have_separate_budgets_and_the_address_limit_caps_them_all(make_gateway: GatewayFactory) -> None:
    limits = {"rate_limit_flash_per_user": "2/minute", "rate_limit_flash_per_address": "5/minute"}
    async with make_gateway(**limits) as gateway:
        per_user = [await statuses(gateway, FLASH, 3, headers=bearer(f"u_{n}", ["customer"])) for n in range(4)]
    assert [c[429] for c in per_user] == [1, 1, 2, 3]  # 2 + 2 + 1 pass: the address's 5


async def test_a_request_with_a_bad_token_is_refused_before_it_counts(make_gateway: GatewayFactory) -> None:
    async with make_gateway(rate_limit_orders_per_address="2/minute") as gateway:
        for _ in range(5):
            bad = await gateway.post("/api/v1/orders", headers={"Authorization": "Bearer nope"}, json={})
            assert bad.status_code == 401
        assert (await statuses(gateway, "/api/v1/orders", 3, headers=ALICE, json={}))[429] == 1


async def test_anonymous_callers_are_limited_per_address_on_signed_in_routes(make_gateway: GatewayFactory) -> None:
    # No token: the service answers 401, but the address still pays for the request.
    async with make_gateway(rate_limit_referrals_per_address="2/minute") as gateway:
        assert (await statuses(gateway, "/api/v1/referrals/bind", 4, json={"code": "x"}))[429] == 2


async def test_payment_notifications_are_limited_per_address(make_gateway: GatewayFactory) -> None:
    async with make_gateway(rate_limit_notify_per_address="3/second") as gateway:
        counted = await statuses(gateway, "/api/v1/payments/wechat/notify", 3, content=b"{}")
        assert 429 not in counted
        assert_rate_limited(await gateway.post("/api/v1/payments/notify", content=b"{}"), 1)


async def test_limits_off_means_no_429(make_gateway: GatewayFactory) -> None:
    async with make_gateway(rate_limits_enabled=False, rate_limit_sign_in_per_address="1/minute") as gateway:
        assert 429 not in await statuses(gateway, "/api/v1/auth/wechat", 30, json={})


async def test_an_empty_limit_is_no_limit(make_gateway: GatewayFactory) -> None:
    async with make_gateway(rate_limit_flash_per_user="", rate_limit_flash_per_address="") as gateway:
        assert 429 not in await statuses(gateway, FLASH, 50, headers=ALICE)


async def test_clients_behind_a_trusted_proxy_are_told_apart_by_x_forwarded_for(
    upstream_apps: dict[str, FastAPI],
) -> None:
    settings = gateway_settings(rate_limit_sign_in_per_address="2/minute", trusted_proxies="10.0.0.0/8")
    transports = {name: httpx.ASGITransport(app=app) for name, app in upstream_apps.items()}
    app = create_app(settings, upstream_transports=transports)

    async def sign_ins(peer: str, forwarded_for: str | None) -> Counter[int]:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            return await statuses(client, "/api/v1/auth/wechat", 3, headers=headers)

    async with app.running():
        # Through the load balancer (10.0.0.5): the client named by the header is counted, per client.
        assert (await sign_ins("10.0.0.5", "203.0.113.7"))[429] == 1
        assert (await sign_ins("10.0.0.5", "198.51.100.1, 10.0.0.9"))[429] == 1  # nearest untrusted hop
        # Straight from the internet, the header is the caller's own words: the socket peer counts.
        assert (await sign_ins("203.0.113.9", "198.51.100.77"))[429] == 1
        assert (await sign_ins("203.0.113.9", "198.51.100.78"))[429] == 3


async def test_the_routes_limited_are_the_documented_ones(make_gateway: GatewayFactory) -> None:
    limits = {f"rate_limit_{name}_per_address": "1/minute" for name in LIMITED_ROUTES}
    async with make_gateway(**limits) as gateway:
        for path in ("/api/v1/orders", FLASH, "/api/v1/referrals/bind", "/api/v1/auth/wechat"):
            await gateway.post(path, headers=ALICE if "auth" not in path else {}, json={})
            second = await gateway.post(path, headers=ALICE if "auth" not in path else {}, json={})
            assert second.status_code == 429, path
        # Neighbours of the limited paths are not limited.
        for path in ("/api/v1/orders/echo", "/api/v1/flash-sales/7/end", "/api/v1/flash-sales/7/orders/x"):
            for _ in range(3):
                assert (await gateway.post(path, headers=ALICE, json={})).status_code != 429, path


# -- the pieces -----------------------------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter_with(rule: Rule, storage: Any, address: ClientAddress | None = None) -> RateLimiter:
    return RateLimiter(storage, RuleTable({rule.name: rule}, LIMITED_ROUTES), address or ClientAddress(()))


SCOPE: dict[str, Any] = {"type": "http", "client": ("192.0.2.1", 5000), "headers": []}


@pytest.mark.parametrize(
    ("limit", "window"), [("1/second", 1), ("5/second", 1), ("10/minute", 60), ("3/minute", 60), ("7/hour", 3600)]
)
@pytest.mark.parametrize("offset", [0.0, 0.25, 0.5, 0.999])
async def test_waiting_retry_after_seconds_is_enough(limit: str, window: int, offset: float) -> None:
    clock = Clock(1_000_000.0 * window + offset * window)
    storage = LocalWindows(clock=clock)
    rule = Rule("orders", parse_limits(limit), ())
    limiter = limiter_with(rule, storage)
    for _round in range(4):  # across window edges, with the previous window's count still weighing
        while (retry_after := await limiter.check(rule, "u", SCOPE)) is None:
            pass
        assert 1 <= retry_after <= window + 1
        if retry_after > 1:
            clock.now += retry_after - 1
            assert await limiter.check(rule, "u", SCOPE) is not None  # a second less would not have been enough...
            clock.now += 1
        else:
            clock.now += retry_after
        assert await limiter.check(rule, "u", SCOPE) is None  # ...and this is


async def test_the_sliding_window_lets_the_limit_through_per_window_and_no_more() -> None:
    clock = Clock(600.0)
    storage = LocalWindows(clock=clock)
    rule = Rule("flash", parse_limits("10/minute"), ())
    limiter = limiter_with(rule, storage)
    passed = 0
    for _ in range(120 * 10):  # two minutes, a request every 0.1 s
        passed += await limiter.check(rule, "u", SCOPE) is None
        clock.now += 0.1
    # A sliding window: at most 10 in any minute, so at most 10 + 10 over two minutes (and at least 2 x 10 - 1).
    assert 19 <= passed <= 20


async def test_expired_keys_are_swept_and_the_key_count_is_bounded() -> None:
    clock = Clock(0.0)
    storage = LocalWindows(clock=clock, max_keys=100)
    rule = Rule("flash", parse_limits("1/second"), ())
    limiter = limiter_with(rule, storage)
    for n in range(150):
        assert await limiter.check(rule, f"u{n}", SCOPE) is None
    assert len(storage) == 100  # the oldest keys were forgotten for the newest
    clock.now += 15  # their windows are long over, and a sweep is due
    await limiter.check(rule, "late", SCOPE)
    assert len(storage) == 1


async def test_the_local_store_serves_the_limits_librarys_own_strategy() -> None:
    clock = Clock(3_000.0)
    strategy = SlidingWindowCounterRateLimiter(LocalWindows(clock=clock))
    item = parse_limits("3/minute")[0]
    assert [await strategy.hit(item, "k") for _ in range(4)] == [True, True, True, False]
    stats = await strategy.get_window_stats(item, "k")
    assert stats.remaining == 0
    clock.now += 60  # the next window, the previous one still weighing in full at its start
    assert not await strategy.hit(item, "k")
    clock.now += 21  # past a third of it: one request's worth of the previous window has gone
    assert await strategy.hit(item, "k")


def test_ipv6_clients_are_counted_per_64_network() -> None:
    address = ClientAddress(())
    first = address({"client": ("2001:db8:1:2:aaaa::1", 1), "headers": []})
    assert first == address({"client": ("2001:db8:1:2:ffff::9", 1), "headers": []})
    assert first != address({"client": ("2001:db8:1:3::1", 1), "headers": []})
    assert address({"client": ("192.0.2.1", 1), "headers": []}) == "192.0.2.1"


def test_limits_and_networks_are_validated() -> None:
    assert parse_limits("") == ()
    assert [str(item) for item in parse_limits("5/second; 30/minute")] == ["5 per 1 second", "30 per 1 minute"]
    for bad in ("fast", "0/second", "5/fortnight"):
        with pytest.raises(ValueError):
            parse_limits(bad)
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/8, not-an-address")
    with pytest.raises(ValueError):
        gateway_settings(rate_limit_orders_per_user="lots")
    with pytest.raises(ValueError):
        gateway_settings(rate_limit_storage_url="memcached://x")
    # Every limited route has its settings (a route added to the table without them fails here).
    assert set(rules_from_settings(gateway_settings())) == set(LIMITED_ROUTES)


def test_the_rule_table_matches_methods_and_segments_exactly() -> None:
    table = RuleTable(rules_from_settings(gateway_settings()), LIMITED_ROUTES)
    assert table.match("POST", "/api/v1/flash-sales/abc/orders") is not None
    assert table.match("GET", "/api/v1/flash-sales/abc/orders") is None
    assert table.match("POST", "/api/v1/flash-sales//orders") is None  # `*` is one whole, non-empty segment
    assert table.match("POST", "/api/v1/orders/") is None
    assert table.match("PUT", "/api/v1/orders") is None


class FailingStorage(LocalWindows):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def acquire_all(self, keys: Sequence[str], limits: Sequence[Limit]) -> float | None:
        self.calls += 1
        raise ConnectionError("redis is down")


async def test_a_failing_storage_lets_requests_through_and_is_not_asked_again_at_once() -> None:
    storage = FailingStorage()
    rule = Rule("orders", parse_limits("1/minute"), parse_limits("1/minute"))
    limiter = limiter_with(rule, storage)
    assert [await limiter.check(rule, "u", SCOPE) for _ in range(5)] == [None] * 5
    assert storage.calls == 1


# -- Redis: counts shared by every gateway process ------------------------------------------------------------------


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"test-ratelimit-{uuid.uuid4().hex[:12]}"
    yield prefix

    async def clean() -> None:
        client = redis.asyncio.Redis.from_url(os.environ["TEST_REDIS_URL"])
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    import asyncio

    asyncio.run(clean())


@pytest.fixture
async def two_redis_limiters(redis_prefix: str) -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    rule = Rule("flash", parse_limits("10/minute"), parse_limits("15/minute"))
    first = limiter_with(rule, storage_for(os.environ["TEST_REDIS_URL"], key_prefix=redis_prefix))
    second = limiter_with(rule, storage_for(os.environ["TEST_REDIS_URL"], key_prefix=redis_prefix))
    yield first, second
    await first.aclose()
    await second.aclose()


@pytest.mark.redis
async def test_two_gateway_processes_share_the_count_in_redis(
    two_redis_limiters: tuple[RateLimiter, RateLimiter],
) -> None:
    first, second = two_redis_limiters
    rule = first.table.match("POST", FLASH)
    assert rule is not None
    answers = [await (first if n % 2 else second).check(rule, "u_alice", SCOPE) for n in range(14)]
    assert answers[:10] == [None] * 10  # 5 through each limiter: the 10 the user may do, not 10 each
    assert all(a is not None and 1 <= a <= 60 for a in answers[10:])
    # Another user from the same address has what is left of the address's 15: 5.
    bob = [await second.check(rule, "u_bob", SCOPE) for _ in range(7)]
    assert bob[:5] == [None] * 5
    assert all(a is not None and 1 <= a <= 60 for a in bob[5:])


@pytest.mark.redis
async def test_a_burst_through_the_gateway_on_redis_gets_429_with_retry_after(
    make_gateway: GatewayFactory, redis_prefix: str
) -> None:
    settings = {
        "rate_limit_storage_url": os.environ["TEST_REDIS_URL"],
        "rate_limit_key_prefix": redis_prefix,
        "rate_limit_sign_in_per_address": "20/minute",
    }
    async with make_gateway(**settings) as gateway:
        responses = [await gateway.post("/api/v1/auth/wechat", json={}) for _ in range(30)]
    assert [r.status_code for r in responses[:20]] == [200] * 20
    for refused in responses[20:]:
        assert_rate_limited(refused, 60)
