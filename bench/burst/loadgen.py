"""The 10:00 crowd: every buyer a distinct customer pressing "buy" once, all of them within a couple of seconds.

    python -m bench.burst.loadgen --url http://127.0.0.1:8000/api/v1/flash-sales/1/orders --leader demo-leader \
        --buyers 10000 --arrival-seconds 2 --timeout 10 --shard 0 --shards 4

One of `--shards` processes (`bench.burst.bench_burst` starts them), each its own event loop on its own share of the
cores: at 10,000 buyers in two seconds one Python client process is itself the bottleneck on a busy machine, and a
buyer it is late to send would be counted as the server's wait. Buyer i (of all shards) is scheduled at
start + i × arrival/buyers, and shard k sends the buyers i ≡ k (mod shards). Each shard mints its buyers' tokens and
Idempotency-Keys first (`bench.flash.loadgen.mint_headers`, signed with the benchmark's test key), warms up, says
`{"event": "ready"}` on stdout and waits for `go <unix time>` on stdin: the common start.

Open loop: a buyer's latency is counted from its scheduled moment whatever happened before, so time spent waiting
for one of the shard's pooled connections (the ingress in front of the gateway keeps a pool too) counts as the
buyer's wait. The client gives up after `--timeout` seconds: a timeout, never a retry. Bounded: each buyer once,
each for at most `--timeout` seconds.

Writes one `bench.burst.figures.Answer` per buyer (as a list) to `--answers`, then says `{"event": "done", ...}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
from yarl import URL

from bench.burst.figures import CONNECTION_ERROR, TIMEOUT, Answer
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
    except aiohttp.ClientError as error:
        status = CONNECTION_ERROR
        detail = type(error).__name__
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

    async def send(method: str, url: str, headers: dict[str, str], data: bytes | None) -> None:
        try:
            async with session.request(method, URL(url, encoded=True), data=data, headers=headers) as response:
                await response.read()
                statuses[f"{method} {response.status}"] += 1
        except (TimeoutError, aiohttp.ClientError) as error:  # a busy machine: the burst still runs
            statuses[f"{method} {type(error).__name__}"] += 1

    async def view() -> None:
        nonlocal views
        while views > 0:
            views -= 1
            await send("GET", args.warmup_url, viewer, None)

    async def buy() -> None:
        while buyers:
            await send("POST", args.warmup_buy_url, buyers.pop(), body)

    await asyncio.gather(*(view() for _ in range(64)), *(buy() for _ in range(16)))
    return dict(sorted(statuses.items()))


async def run(args: argparse.Namespace) -> dict[str, object]:
    target = URL(args.url, encoded=True)
    body = json.dumps({"leader_id": args.leader, "quantity": 1}).encode()
    mine = range(args.shard, args.buyers, args.shards)
    headers = mint_headers(args.user_prefix, args.buyers, with_body=True, only=mine)
    connector = aiohttp.TCPConnector(limit=args.connections)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout) as s:
        warmup = await _warm_up(s, args, body, f"{args.user_prefix}-warm{args.shard}")
        _say("ready")
        go = await asyncio.to_thread(sys.stdin.readline)
        # The common start, from wall-clock time (shared by the shards) to this process's monotonic clock.
        start = time.perf_counter() + float(go.split()[1]) - time.time()
        interval = args.arrival_seconds / args.buyers
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu_before = _cpu_seconds()
        tasks = []
        for i, h in zip(mine, headers, strict=True):
            at = start + i * interval
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_send(s, target, body, h, at, start)))
        sent_over = time.perf_counter() - start
        answers = await asyncio.gather(*tasks)
        cpu = _cpu_seconds() - cpu_before
    args.answers.write_text(json.dumps([list(a) for a in answers]))
    return {
        # Past the arrival window: the shard could not send as fast as scheduled (the machine is too busy).
        "sent_over_ms": round(sent_over * 1000, 1),
        "warmup_statuses": warmup,
        "cpu_seconds": round(cpu, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the sale's purchase URL")
    parser.add_argument("--leader", required=True, help="the pickup leader every buyer names")
    parser.add_argument("--buyers", type=int, default=10_000)
    parser.add_argument("--arrival-seconds", type=float, default=2.0, help="buyers arrive evenly over this long")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a buyer waits for an answer")
    parser.add_argument("--connections", type=int, default=128, help="this shard's pooled connections to the gateway")
    parser.add_argument("--answers", type=Path, required=True, help="where to write the answers (JSON)")
    parser.add_argument("--shard", type=int, default=0, help="which of the shards this process is")
    parser.add_argument("--shards", type=int, default=1, help="load generator processes sharing the buyers")
    parser.add_argument("--user-prefix", default="burst-buyer", help="buyers are <prefix>-0, <prefix>-1, ...")
    parser.add_argument("--warmup-url", default=None, help="GET this (the sale) before the burst, not counted")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up GETs")
    parser.add_argument("--warmup-buy-url", default=None, help="purchase URL of another sale, for the warm-up")
    parser.add_argument("--warmup-buys", type=int, default=50, help="warm-up purchases (distinct buyers)")
    args = parser.parse_args()
    if args.buyers < 1 or args.arrival_seconds <= 0 or not 0 <= args.shard < args.shards:
        parser.error("--buyers must be positive, --arrival-seconds above 0 and --shard below --shards")
    try:
        import uvloop  # the load generator must be cheap, or it is what gets measured

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass
    _say("done", **asyncio.run(run(args)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
