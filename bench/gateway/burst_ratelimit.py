"""Bursts against the gateway's rate limits: how many requests got 429 with a valid Retry-After.

    .venv/bin/python -m bench.gateway.burst_ratelimit                      # memory storage, one gateway worker
    .venv/bin/python -m bench.gateway.burst_ratelimit --redis-url redis://127.0.0.1:6379/0 --gateway-workers 2

The gateway runs as it ships (`python -m services.gateway`, default limits unless the environment says otherwise)
in front of the benchmark's stand-in upstream (every service's URL points at it, so a request that passes the
limits is answered by the stand-in, whatever its status). From one address, with `--concurrency` requests in
flight, it sends `--requests` of each burst:

- `sign_in`: anonymous `POST /api/v1/auth/wechat` (limited per address, 60/minute by default);
- `orders`: `POST /api/v1/orders` by one customer (limited per user, 5/second;30/minute by default, and per address);
- `flash_many_buyers`: `POST /api/v1/flash-sales/1/orders`, a different customer each time (the per-address
  limit, 100/second by default, is what holds).

With Redis and several gateway workers, the count is shared: the requests that pass stay within one limit, not
one per worker. Results go to bench/results/ratelimit_burst.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.processes import wait_until_serving
from services.common.testing import free_port, jwks_url_for_tests, sign_test_token

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "ratelimit_burst.json"
STANDIN = "bench.gateway.upstream_app:create_app"
SERVICES = ("ACCOUNTS", "LEADERS", "ORDERS", "POINTS", "ANALYTICS")


@contextmanager
def gateway(args: argparse.Namespace, logdir: Path) -> Iterator[str]:
    upstream_port, gateway_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    env = {
        **os.environ,
        **{f"GATEWAY_{service}_URL": upstream_url for service in SERVICES},
        "AUTH_JWKS_URL": jwks_url_for_tests(),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(gateway_port),
        "GATEWAY_WORKERS": str(args.gateway_workers),
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    if args.redis_url:
        env["GATEWAY_RATE_LIMIT_STORAGE_URL"] = args.redis_url
        env["GATEWAY_RATE_LIMIT_KEY_PREFIX"] = f"bench-burst-{os.getpid()}-{time.time_ns()}"
    upstream_command = [sys.executable, "-m", "uvicorn", "--factory", STANDIN, "--port", str(upstream_port),
                        "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                        "--log-level", "warning"]  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in (("upstream", upstream_command), ("gateway", [sys.executable, "-m", "services.gateway"])):
            with (logdir / f"{name}.log").open("wb") as log:
                processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_until_serving(processes[0], upstream_url + "/healthz")
        wait_until_serving(processes[1], f"http://127.0.0.1:{gateway_port}/healthz")
        yield f"http://127.0.0.1:{gateway_port}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def valid_retry_after(response: httpx.Response) -> bool:
    value = response.headers.get("retry-after", "")
    return (
        value.isdigit()
        and int(value) >= 1
        and response.headers.get("content-type") == "application/problem+json"
        and response.json().get("code") == "RATE_LIMITED"
    )


async def burst(url: str, path: str, headers_for: Any, requests: int, concurrency: int) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    retry_afters: Counter[str] = Counter()
    with_retry_after = 0
    queue = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal with_retry_after
        for n in queue:
            response = await client.post(path, headers=headers_for(n), json={"leader_id": "l1", "quantity": 1})
            statuses[str(response.status_code)] += 1
            if response.status_code == 429:
                retry_afters[response.headers.get("retry-after", "missing")] += 1
                with_retry_after += valid_retry_after(response)

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return {
        "path": path,
        "requests": requests,
        "seconds": round(time.perf_counter() - started, 2),
        "statuses": dict(sorted(statuses.items())),
        "rate_limited": statuses["429"],
        "rate_limited_with_valid_retry_after": with_retry_after,
        "passed": requests - statuses["429"],
        "retry_after_values": dict(sorted(retry_afters.items(), key=lambda kv: (len(kv[0]), kv[0]))),
    }


async def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    customer = {"Authorization": "Bearer " + sign_test_token("bench-burst-customer", ["customer"])}
    buyers = [
        {"Authorization": "Bearer " + sign_test_token(f"bench-buyer-{n}", ["customer"])} for n in range(args.requests)
    ]
    return {
        "sign_in": await burst(url, "/api/v1/auth/wechat", lambda n: {}, args.requests, args.concurrency),
        "orders": await burst(url, "/api/v1/orders", lambda n: customer, args.requests, args.concurrency),
        "flash_many_buyers": await burst(
            url, "/api/v1/flash-sales/1/orders", lambda n: buyers[n], args.requests, args.concurrency
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1500, help="requests per burst")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument("--redis-url", default=None, help="count in Redis (GATEWAY_RATE_LIMIT_STORAGE_URL)")
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as workdir, gateway(args, Path(workdir)) as url:
        bursts = asyncio.run(run(url, args))
    report = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "storage": "redis" if args.redis_url else "memory",
        "gateway_workers": args.gateway_workers,
        "concurrency": args.concurrency,
        "bursts": bursts,
    }
    for name, result in bursts.items():
        print(f"{name:18} {result['requests']} requests in {result['seconds']} s: {result['rate_limited']} got 429 "
              f"({result['rate_limited_with_valid_retry_after']} with a valid Retry-After), {result['passed']} passed; "
              f"statuses {result['statuses']}")  # fmt: skip
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        previous[f"{report['storage']}_{args.gateway_workers}_workers"] = report
        RESULTS.write_text(json.dumps(previous, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
