"""Cost of one rate-limit check in the gateway's process: its own memory storage against the `limits` library's.

    .venv/bin/python -m bench.gateway.bench_ratelimit_storage

Each simulated request makes the checks a flash purchase makes (per user `5/second;30/minute`, per address
`100/second`) with the sliding window counter, for buyers drawn from 10 or 10,000 distinct users, and then yields
to the event loop once, as a server does between requests (the library's memory storage schedules its sweep of
expired keys from there). Medians of interleaved rounds, in microseconds per request, `none` being the loop and
the yield alone; printed, not saved.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from limits import parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from services.gateway.ratelimit import LocalWindows

PER_USER = parse_many("1000000/second;1000000/minute")  # the same work as the shipped limits, never refused
PER_ADDRESS = parse_many("1000000/second")
REQUESTS = 20_000
ROUNDS = 5


async def one_round(storage_kind: str, users: int) -> float:
    storage = LocalWindows() if storage_kind == "gateway" else MemoryStorage()
    limiter = SlidingWindowCounterRateLimiter(storage)
    started = time.perf_counter()
    for n in range(REQUESTS):
        if storage_kind == "none":  # the loop and the yield alone: subtract from the others
            await asyncio.sleep(0)
            continue
        for item in PER_USER:
            await limiter.hit(item, "flash", "user", f"u{n % users}")
        for item in PER_ADDRESS:
            await limiter.hit(item, "flash", "address", "192.0.2.1")
        await asyncio.sleep(0)
    return (time.perf_counter() - started) / REQUESTS * 1e6


async def main() -> None:
    results: dict[tuple[str, int], list[float]] = {}
    for _ in range(ROUNDS):
        for users in (10, 10_000):
            for kind in ("none", "gateway", "limits"):
                results.setdefault((kind, users), []).append(await one_round(kind, users))
    for (kind, users), samples in sorted(results.items()):
        print(f"{kind:8} storage, {users:6} users: {statistics.median(samples):7.1f} µs per request")


if __name__ == "__main__":
    asyncio.run(main())
