"""Load generator for flash-sale purchases: every request is a different buyer with its own Idempotency-Key.

Run as its own process so the load does not share an event loop (or a core's time slices) with the server:

    python -m bench.flash.loadgen --url http://127.0.0.1:8002/api/v1/flash-sales/1/orders --user-prefix r1 \
        --body '{"leader_id": "bench-leader", "quantity": 1}' --expect 201

Tokens and keys are minted before the timed part (signing a JWT costs about as much as a cheap request), with the
benchmark's test key (`services.common.testing`, inherited from the process that started this one).
Two modes, both bounded in requests and in time:
- closed loop (default): `--concurrency` workers, each sends its next request when the previous answer arrived;
  the warm-up runs the same way (concurrently, so it also exercises the decision under contention), not counted;
- open loop (`--rate R`): request i is sent at start + i/R whatever happened before; its latency is counted from
  that scheduled moment, so a server that falls behind shows it (no coordinated omission).
Without `--body` it sends GETs (the trivial endpoint). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import uuid
from collections import Counter
from collections.abc import Iterable

import aiohttp
from yarl import URL

from services.common.testing import sign_test_token


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def mint_headers(
    prefix: str, count: int, *, with_body: bool, only: Iterable[int] | None = None
) -> list[dict[str, str]]:
    """Headers of buyers <prefix>-0 .. <prefix>-<count - 1>, or of those numbered in `only` (a load generator
    sharing the buyers with others)."""
    headers = []
    for i in range(count) if only is None else only:
        token = sign_test_token(f"{prefix}-{i}", ["customer"], ttl_seconds=3600)
        h = {"Authorization": f"Bearer {token}"}
        if with_body:
            h["Idempotency-Key"] = uuid.uuid4().hex
            h["Content-Type"] = "application/json"
        headers.append(h)
    return headers


def _percentile(latencies: list[float], q: float) -> float:
    if not latencies:
        return 0.0
    return round(latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000, 2)


async def run(args: argparse.Namespace) -> dict[str, object]:
    target = URL(args.url, encoded=True)
    body = args.body.encode() if args.body is not None else None
    method = "POST" if body is not None else "GET"
    expected = {int(s) for s in args.expect.split(",")}
    headers = mint_headers(args.user_prefix, args.warmup + args.requests, with_body=body is not None)
    statuses: Counter[int] = Counter()
    warmup_statuses: Counter[int] = Counter()
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=args.connection_limit or args.concurrency)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def send(h: dict[str, str]) -> int:
            try:
                async with session.request(method, target, data=body, headers=h) as response:
                    await response.read()
                    return response.status
            except aiohttp.ClientError:
                return 0

        next_index = 0

        async def closed_worker(stop: int, deadline: float, record: bool) -> None:
            nonlocal next_index
            while next_index < stop and time.perf_counter() < deadline:
                h = headers[next_index]
                next_index += 1
                started = time.perf_counter()
                status = await send(h)
                if record:
                    latencies.append(time.perf_counter() - started)
                    statuses[status] += 1
                else:
                    warmup_statuses[status] += 1

        # Warm-up: concurrent, not counted (opens the connections, fills caches, takes the first units).
        await asyncio.gather(
            *(closed_worker(args.warmup, time.perf_counter() + 60, False) for _ in range(args.concurrency))
        )
        stop = args.warmup + args.requests
        started = time.perf_counter()
        cpu_before = _cpu_seconds()
        if args.rate:
            interval = 1.0 / args.rate
            deadline = started + args.duration

            async def scheduled(h: dict[str, str], at: float) -> None:
                status = await send(h)
                latencies.append(time.perf_counter() - at)
                statuses[status] += 1

            tasks = []
            i = 0
            while next_index < stop:
                at = started + i * interval
                if at >= deadline:
                    break
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(scheduled(headers[next_index], at)))
                next_index += 1
                i += 1
            await asyncio.gather(*tasks)
        else:
            deadline = started + args.duration
            await asyncio.gather(*(closed_worker(stop, deadline, True) for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before

    latencies.sort()
    count = len(latencies)
    return {
        "requests": count,
        "sent_including_warmup": next_index,
        "errors": sum(n for status, n in statuses.items() if status not in expected),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "warmup_statuses": {str(status): n for status, n in sorted(warmup_statuses.items())},
        "seconds": round(elapsed, 3),
        "rps": round(count / elapsed, 1) if elapsed else 0.0,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0.0,
        "load_cpu_us_per_request": round(cpu / count * 1e6, 1) if count else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", default=None, help="JSON body: POST with a fresh buyer and key per request")
    parser.add_argument("--user-prefix", default="bench-buyer", help="buyers are <prefix>-0, <prefix>-1, ...")
    parser.add_argument("--expect", default="200,201", help="statuses that count as answered, comma separated")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--connection-limit", type=int, default=0, help="open-loop connection cap (0: concurrency)")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop at this many requests per second")
    parser.add_argument("--requests", type=int, default=20_000, help="upper bound on measured requests")
    parser.add_argument("--duration", type=float, default=5.0, help="upper bound on measured seconds")
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    try:
        import uvloop  # the load generator must be cheap, or it is what gets measured

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
