"""Cost of the rate-limit check of a flash purchase in the gateway's process, against the `limits` library's ways.

    .venv/bin/python -m bench.gateway.bench_ratelimit_storage

Each simulated request makes the checks a flash purchase makes (per user `5/second;30/minute`, per address
`100/second`, with amounts too large to refuse) for buyers drawn from 10 or 10,000 distinct users, then yields to
the event loop once, as a server does between requests (the library's memory storage schedules its sweep of
expired keys from there). Kinds:

- `none`: the loop and the yield alone (subtract it from the others);
- `gateway`: `RateLimiter.check` over `LocalWindows`, what the gateway runs;
- `strategy`: the library's `SlidingWindowCounterRateLimiter` over `LocalWindows` (its key building and error
  wrapping on top of the same store);
- `limits`: the library's strategy over its own `MemoryStorage`.

Medians of interleaved rounds, in microseconds per request; printed, not saved.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from limits import parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from services.gateway.ratelimit import LIMITED_ROUTES, ClientAddress, LocalWindows, RateLimiter, Rule, RuleTable

PER_USER = tuple(parse_many("1000000/second;1000000/minute"))  # the shipped limits' work, never refused
PER_ADDRESS = tuple(parse_many("1000000/second"))
REQUESTS = 10_000
ROUNDS = 3
SCOPE = {"type": "http", "client": ("192.0.2.1", 4000), "headers": []}


async def one_round(kind: str, users: int) -> float:
    rule = Rule("flash", PER_USER, PER_ADDRESS)
    gateway = RateLimiter(LocalWindows(), RuleTable({"flash": rule}, LIMITED_ROUTES), ClientAddress(()))
    strategy = SlidingWindowCounterRateLimiter(LocalWindows() if kind == "strategy" else MemoryStorage())
    started = time.perf_counter()
    for n in range(REQUESTS):
        if kind == "gateway":
            await gateway.check(rule, f"u{n % users}", SCOPE)
        elif kind != "none":
            for item in PER_USER:
                await strategy.hit(item, "flash", "user", f"u{n % users}")
            for item in PER_ADDRESS:
                await strategy.hit(item, "flash", "address", "192.0.2.1")
        await asyncio.sleep(0)
    return (time.perf_counter() - started) / REQUESTS * 1e6


async def main() -> None:
    results: dict[tuple[int, str], list[float]] = {}
    for round_number in range(1, ROUNDS + 1):
        for users in (10, 10_000):
            for kind in ("none", "gateway", "strategy", "limits"):
                cost = await one_round(kind, users)
                results.setdefault((users, kind), []).append(cost)
                print(f"round {round_number}: {kind:8} {users:6} users {cost:9.1f} µs per request", flush=True)
    for (users, kind), samples in results.items():
        print(f"median: {kind:8} {users:6} users {statistics.median(samples):9.1f} µs per request")


if __name__ == "__main__":
    asyncio.run(main())
