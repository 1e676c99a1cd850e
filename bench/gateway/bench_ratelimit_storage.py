"""Cost of the rate-limit check of a flash purchase in the gateway's process, against the `limits` library's ways.

    .venv/bin/python -m bench.gateway.bench_ratelimit_storage [--redis-url redis://127.0.0.1:6379/0]

Each simulated request makes the checks a flash purchase makes (per user `5/second;30/minute`, per address
`100/second`, with amounts too large to refuse) for buyers drawn from 10 or 10,000 distinct users, then yields to
the event loop once, as a server does between requests (the library's memory storage schedules its sweep of
expired keys from there). Kinds:

- `none`: the loop and the yield alone (subtract it from the others);
- `gateway`: `RateLimiter.check` over `LocalWindows`, what the gateway runs;
- `strategy`: the library's `SlidingWindowCounterRateLimiter` over `LocalWindows` (its key building and error
  wrapping on top of the same store);
- `limits`: the library's strategy over its own `MemoryStorage`;
- with `--redis-url`, `gateway_redis` (`RateLimiter.check` over `RedisWindows`: one script call per request) and
  `limits_redis` (the library's strategy over its Redis storage, redis-py: one call per limit).

Medians of interleaved rounds, in CPU microseconds of this process per request (Redis's own CPU not included);
printed, not saved.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any, cast

import redis.asyncio
from limits import parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from services.gateway.ratelimit import (
    LIMITED_ROUTES,
    ClientAddress,
    LocalWindows,
    RateLimiter,
    Rule,
    RuleTable,
    storage_for,
)

PER_USER = tuple(parse_many("1000000/second;1000000/minute"))  # the shipped limits' work, never refused
PER_ADDRESS = tuple(parse_many("1000000/second"))
REQUESTS = 10_000
REDIS_REQUESTS = 2_000
ROUNDS = 3
SCOPE = {"type": "http", "client": ("192.0.2.1", 4000), "headers": []}


async def one_round(kind: str, users: int, redis_url: str | None) -> float:
    rule = Rule("flash", PER_USER, PER_ADDRESS)
    prefix = f"bench-ratelimit-{time.time_ns()}"
    store = storage_for(redis_url, key_prefix=prefix) if kind == "gateway_redis" and redis_url else LocalWindows()
    gateway = RateLimiter(store, RuleTable({"flash": rule}, LIMITED_ROUTES), ClientAddress(()))
    if kind == "limits_redis" and redis_url:
        library_store = storage_from_string(f"async+{redis_url}", implementation="redispy", key_prefix=prefix)
    else:
        library_store = LocalWindows() if kind == "strategy" else MemoryStorage()
    strategy = SlidingWindowCounterRateLimiter(library_store)
    requests = REDIS_REQUESTS if kind.endswith("redis") else REQUESTS
    started = time.process_time()
    for n in range(requests):
        if kind.startswith("gateway"):
            await gateway.check(rule, f"u{n % users}", SCOPE)
        elif kind != "none":
            for item in PER_USER:
                await strategy.hit(item, "flash", "user", f"u{n % users}")
            for item in PER_ADDRESS:
                await strategy.hit(item, "flash", "address", "192.0.2.1")
        await asyncio.sleep(0)
    cost = (time.process_time() - started) / requests * 1e6
    await gateway.aclose()
    if kind == "limits_redis":
        await cast(Any, library_store).bridge.storage.aclose()
    if redis_url and kind.endswith("redis"):
        client = redis.asyncio.Redis.from_url(redis_url)
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return cost


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    kinds = ["none", "gateway", "strategy", "limits"] + (["gateway_redis", "limits_redis"] if args.redis_url else [])
    results: dict[tuple[int, str], list[float]] = {}
    for round_number in range(1, ROUNDS + 1):
        for users in (10, 10_000):
            for kind in kinds:
                cost = await one_round(kind, users, args.redis_url)
                results.setdefault((users, kind), []).append(cost)
                print(f"round {round_number}: {kind:8} {users:6} users {cost:9.1f} µs per request", flush=True)
    for (users, kind), samples in results.items():
        print(f"median: {kind:8} {users:6} users {statistics.median(samples):9.1f} µs per request")


if __name__ == "__main__":
    asyncio.run(main())
