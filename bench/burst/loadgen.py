"""The 10:00 crowd: every buyer a distinct customer pressing "buy" once, all of them within a couple of seconds.

    python -m bench.burst.loadgen --url http://127.0.0.1:8000/api/v1/flash-sales/1/orders --leader demo-leader \
        --buyers 10000 --arrival-seconds 2 --timeout 10

Run as its own process, so the load does not share an event loop (or a core's time slices) with the servers.
Tokens and Idempotency-Keys are minted first (`bench.flash.loadgen.mint_headers`, signed with the benchmark's test
key). Buyer i is scheduled at start + i × arrival/buyers whatever happened before (open loop), and its latency is
counted from that moment, so time spent waiting for one of the `--connections` pooled connections (the ingress in
front of the gateway keeps a pool too) counts as the buyer's wait. The client gives up after `--timeout` seconds:
that is a timeout, never a retry. Bounded: `--buyers` requests, each at most `--timeout` seconds.

Prints JSON lines on stdout: `{"event": "started"}` when the first buyer is sent, then `{"event": "done", ...}`
with the figures of `bench.burst.figures.summarise` (and nothing else, so the caller can follow along).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter

import aiohttp
from yarl import URL

from bench.burst.figures import CONNECTION_ERROR, TIMEOUT, Answer, summarise
from bench.flash.loadgen import mint_headers
from services.common.errors import PROBLEM_MEDIA_TYPE
from services.common.testing import sign_test_token


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _say(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def _send(
    session: aiohttp.ClientSession, url: URL, body: bytes, headers: dict[str, str], at: float, start: float
) -> Answer:
    code: str | None = None
    problem_json = False
    detail: str | None = None
    try:
        async with session.post(url, data=body, headers=headers) as response:
            raw = await response.read()
            status = response.status
            problem_json = response.content_type == PROBLEM_MEDIA_TYPE
            if status != 201 and problem_json:
                code = json.loads(raw).get("code")
            if status >= 500:
                detail = raw[:300].decode(errors="replace")
    except TimeoutError:
        status = TIMEOUT
    except aiohttp.ClientError:
        status = CONNECTION_ERROR
    done = time.perf_counter()
    return Answer(status, code, done - at, done - start, problem_json, detail)


async def _warm_up(
    session: aiohttp.ClientSession, args: argparse.Namespace, body: bytes, prefix: str
) -> dict[str, int]:
    """The morning before 10:00 (not counted): viewers open the sale's page (`--warmup` GETs) and a few buyers buy
    in another sale (`--warmup-buys` purchases at `--warmup-buy-url`), so the connections from the client to the
    gateway and from the gateway to orders are open and each orders worker has served purchases (its database
    connections, its cached leader), as on a system that has been serving all morning."""
    viewer = {"Authorization": "Bearer " + sign_test_token("burst-viewer", ["customer"], ttl_seconds=3600)}
    buyers = mint_headers(prefix, args.warmup_buys, with_body=True) if args.warmup_buy_url else []
    statuses: Counter[str] = Counter()
    views = args.warmup if args.warmup_url else 0

    async def view() -> None:
        nonlocal views
        while views > 0:
            views -= 1
            async with session.get(URL(args.warmup_url, encoded=True), headers=viewer) as response:
                await response.read()
                statuses[f"GET {response.status}"] += 1

    async def buy() -> None:
        while buyers:
            async with session.post(URL(args.warmup_buy_url, encoded=True), data=body, headers=buyers.pop()) as r:
                await r.read()
                statuses[f"POST {r.status}"] += 1

    await asyncio.gather(*(view() for _ in range(64)), *(buy() for _ in range(16)))
    return dict(sorted(statuses.items()))


async def run(args: argparse.Namespace) -> dict[str, object]:
    target = URL(args.url, encoded=True)
    body = json.dumps({"leader_id": args.leader, "quantity": 1}).encode()
    headers = mint_headers(args.user_prefix, args.buyers, with_body=True)
    connector = aiohttp.TCPConnector(limit=args.connections)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout) as s:
        warmup = await _warm_up(s, args, body, f"{args.user_prefix}-warm")
        interval = args.arrival_seconds / args.buyers
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        _say("started")
        tasks = []
        for i, h in enumerate(headers):
            at = start + i * interval
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_send(s, target, body, h, at, start)))
        sent_over = time.perf_counter() - start
        answers = await asyncio.gather(*tasks)
        cpu = _cpu_seconds() - cpu_before
    return {
        **summarise(answers),
        "sent_over_ms": round(sent_over * 1000, 1),
        "warmup_statuses": warmup,
        "load_cpu_us_per_request": round(cpu / len(answers) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the sale's purchase URL")
    parser.add_argument("--leader", required=True, help="the pickup leader every buyer names")
    parser.add_argument("--buyers", type=int, default=10_000)
    parser.add_argument("--arrival-seconds", type=float, default=2.0, help="buyers arrive evenly over this long")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a buyer waits for an answer")
    parser.add_argument("--connections", type=int, default=512, help="pooled connections to the gateway")
    parser.add_argument("--user-prefix", default="burst-buyer", help="buyers are <prefix>-0, <prefix>-1, ...")
    parser.add_argument("--warmup-url", default=None, help="GET this (the sale) before the burst, not counted")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up GETs")
    parser.add_argument("--warmup-buy-url", default=None, help="purchase URL of another sale, for the warm-up")
    parser.add_argument("--warmup-buys", type=int, default=50, help="warm-up purchases (distinct buyers)")
    args = parser.parse_args()
    if args.buyers < 1 or args.arrival_seconds <= 0:
        parser.error("--buyers must be positive and --arrival-seconds above 0")
    try:
        import uvloop  # the load generator must be cheap, or it is what gets measured

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass
    _say("done", **asyncio.run(run(args)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
