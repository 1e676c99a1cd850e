"""A closed-loop HTTP load generator: fixed concurrency, bounded in requests and in time.

Run as its own process so the load does not share an event loop with what it measures:
`python -m bench.gateway.loadgen --url http://127.0.0.1:8000/api/v1/products/1`. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

import aiohttp
from yarl import URL


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(
    url: str,
    headers: dict[str, str],
    concurrency: int,
    requests: int,
    duration: float,
    warmup: int,
    method: str = "GET",
    body: bytes | None = None,
) -> dict[str, float | int]:
    target = URL(url, encoded=True)
    connector = aiohttp.TCPConnector(limit=concurrency)
    latencies: list[float] = []
    errors = 0
    issued = 0
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), headers=headers
    ) as session:
        # Warm-up: open the connections and let both servers reach steady state; not counted.
        for _ in range(warmup):
            async with session.request(method, target, data=body) as response:
                await response.read()

        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors, issued
            while issued < requests and time.perf_counter() < deadline:
                issued += 1
                started = time.perf_counter()
                try:
                    async with session.request(method, target, data=body) as response:
                        await response.read()
                        ok = 200 <= response.status < 300
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        started = time.perf_counter()
        cpu_before = _cpu_seconds()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before

    latencies.sort()
    count = len(latencies)
    return {
        "requests": count,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "rps": round(count / elapsed, 1),
        "p50_ms": round(latencies[count // 2] * 1000, 2) if count else 0.0,
        "p99_ms": round(latencies[min(count - 1, int(count * 0.99))] * 1000, 2) if count else 0.0,
        # The load generator shares the machine with what it measures: its own cost explains part of the ratio.
        "load_cpu_us_per_request": round(cpu / count * 1e6, 1) if count else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=20_000, help="upper bound on measured requests")
    parser.add_argument("--duration", type=float, default=8.0, help="upper bound on measured seconds")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--header", action="append", default=[], help="'Name: value', may repeat")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default=None, help="request body (sent as is, with the headers given)")
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {name.strip(): value.strip() for name, value in headers.items()}
    try:
        import uvloop  # the load generator must be cheap, or it is what gets measured

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass
    body = args.body.encode() if args.body is not None else None
    result = asyncio.run(
        run(args.url, headers, args.concurrency, args.requests, args.duration, args.warmup, args.method, body)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
