"""The flash-sale burst: 10:00, a sale of 500 units, 10,000 neighbours pressing "buy" within two seconds, against the
production shape (`make run-scaled`). Results in bench/results/burst.json; what they mean in bench/README.md.

    .venv/bin/python -m bench.burst.bench_burst     # two stacks, three bursts: 6-7 minutes on a busy 2-core machine

For each orders worker count of `--orders-workers` (default 1 and 2) the benchmark starts
`python -m services.launcher --scaled` as a process: every service with two workers (orders with the count under
test, `SCALED_ORDERS_WORKERS`) on PostgreSQL databases of its own (`gb_burst<pid>w<n>_<service>`), flash stock on
Redis (key prefix `burst<pid>w<n>`), events on a NATS stream of its own, each relay a process, the gateway with two
workers, all on free ports; databases, keys and stream are dropped at the end. Accounts signs with the test key
(`services.common.testing`), so the buyers' tokens (minted by the load generators before the burst) and the ops
token that creates the product and the sales verify everywhere. The launcher loads the demo data: its leader is the
pickup point every buyer names.

Each burst: a new sale (through the gateway, ops token); the load from `--shards` `bench.burst.loadgen` processes
on loopback (aiohttp, a common start, open loop, every buyer once with their own token and Idempotency-Key, client
timeout `--timeout`); the CPU time of every process of the stack, of PostgreSQL's backends of the orders database,
of Redis and of NATS, from the first buyer until the gateway and orders are idle again, less their idle rate; then
the books: units sold on orders in the database, the reconciliation report (database against Redis: every
reservation ended as exactly one order or one release), nobody above the limit.

On the last stack, a second burst on a second sale: once a quarter of the stock is reserved in Redis, the orders
worker with a writing transaction open (a purchase batch between its reservations and its commit) is killed with
SIGKILL (its pid found from `pg_stat_activity` and /proc). After the load, the flash-sale recovery step runs by hand
(`bench.burst.recover`) until the books agree: 0 oversold, every reservation one order or one release; buyers must
have seen answers (a problem+json 5xx no later than the other answers is a clean error), not hangs.

Exit code 1 when anything was oversold, the books disagree, a burst without a kill saw a 5xx or a broken connection,
or any burst a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from bench.burst.figures import Answer, sale_problems, summarise
from bench.flash.bench_flash import OPS, _db_figures, create_product, create_sale
from bench.processes import (
    PidSource,
    child_pids,
    command_line,
    cpu_snapshot,
    cpu_us_per_request,
    postgres_backend_pids,
    redis_server_pid,
)
from services.common.testing import free_port, keys_dir_for_tests
from services.demo import LEADER_SUB
from services.launcher import SERVICES, ScaledServers

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "burst.json"
READY_LINE = "Gateway ready:"
START_TIMEOUT_SECONDS = 150.0
#: The warm-up (not counted): GETs of the sale, and purchases in a sale of its own with more units than buyers.
WARMUP_VIEWS = 500
WARMUP_BUYS = 48
WARMUP_STOCK = 1000
#: Settings the benchmark gives every process of the stack, over the launcher's.
BENCH_SETTINGS = {
    # One access-log line per request is what production writes, but it is not what the burst measures (the flash
    # bench measures without it too).
    **{f"{service.upper()}_LOG_LEVEL": "WARNING" for service in (*SERVICES, "gateway")},
    # The gateway's per-address rate limits would refuse a crowd that arrives from one loopback address here and
    # from 10,000 addresses in life: off ("" is no limit). Per-user limits stay (each buyer presses once).
    "GATEWAY_RATE_LIMIT_FLASH_PER_ADDRESS": "",
    "GATEWAY_RATE_LIMIT_ORDERS_PER_ADDRESS": "",
}


# -- the stack -----------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    orders_workers: int
    tag: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    gateway: str

    @property
    def servers(self) -> ScaledServers:
        return ScaledServers.from_environment(self.env)

    def children(self) -> dict[str, int]:
        """The launcher's children by name: each service's uvicorn supervisor, `<service>-relay`, `gateway`."""
        found: dict[str, int] = {}
        for pid in child_pids(self.process.pid):
            line = command_line(pid)
            if "services.common.events.relay" in line:
                found[f"{line.rsplit(' ', 1)[-1]}-relay"] = pid
            elif "services.gateway" in line:
                found["gateway"] = pid
            else:
                found.update({s: pid for s in SERVICES if f"services.{s}.app" in line})
        return found

    def workers(self, service: str) -> list[int]:
        """The uvicorn worker processes of a service (multiprocessing children, not the resource tracker)."""
        return sorted(p for p in child_pids(self.children()[service]) if "spawn_main" in command_line(p))

    def tool_env(self) -> dict[str, str]:
        """The environment of a tool that acts as the orders service (its database, Redis and key prefix)."""
        servers = self.servers
        return {
            **self.env,
            "ORDERS_DATABASE_URL": servers.database_url("orders"),
            "ORDERS_REDIS_URL": servers.redis_url,
        }


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def stack_env(args: argparse.Namespace, orders_workers: int, tag: str, ports: dict[str, int]) -> dict[str, str]:
    env = {
        **os.environ,
        "SCALED_POSTGRES_URL": args.postgres_url,
        "SCALED_REDIS_URL": args.redis_url,
        "SCALED_NATS_URL": args.nats_url,
        "SCALED_DATABASE_PREFIX": f"gb_{tag}_",
        "SCALED_NATS_STREAM": tag.upper(),
        "SCALED_WORKERS": str(args.workers),
        "SCALED_ORDERS_WORKERS": str(orders_workers),
        "ORDERS_REDIS_PREFIX": tag,
        # Accounts signs with the test key: the buyers' tokens minted by the load generator verify everywhere.
        "ACCOUNTS_SIGNING_KEYS_DIR": str(keys_dir_for_tests()),
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
        **BENCH_SETTINGS,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the launcher gives each service its own
    return env


@contextmanager
def scaled_stack(args: argparse.Namespace, orders_workers: int, workdir: Path) -> Iterator[Stack]:
    tag = f"burst{os.getpid()}w{orders_workers}"
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    env = stack_env(args, orders_workers, tag, ports)
    log = workdir / f"launcher-{orders_workers}.log"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.launcher", "--scaled"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = Stack(orders_workers, tag, env, process, log, f"http://127.0.0.1:{ports['gateway']}")
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while READY_LINE not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                print(*log.read_text(errors="replace").splitlines()[-30:], sep="\n", file=sys.stderr)
                raise SystemExit(f"the scaled stack did not start (launcher exit code {process.poll()})")
            time.sleep(0.2)
        print(f"stack with {orders_workers} orders worker(s) up in {time.monotonic() - started:.0f} s", flush=True)
        yield stack
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        drop_stack_data(stack)


def drop_stack_data(stack: Stack) -> None:
    servers = stack.servers

    async def drop() -> None:
        conn = await asyncpg.connect(_plain(servers.postgres_admin_url))
        try:
            for service in SERVICES:
                await conn.execute(f'DROP DATABASE IF EXISTS "{servers.database_prefix}{service}" WITH (FORCE)')
        finally:
            await conn.close()
        import nats

        nc = await nats.connect(servers.nats_url, connect_timeout=2)
        try:
            with suppress(Exception):  # never created if nothing was published
                await nc.jetstream().delete_stream(servers.nats_stream)
        finally:
            await nc.close()

    asyncio.run(drop())
    client = redis.Redis.from_url(servers.redis_url)
    try:
        keys = list(client.scan_iter(match=f"{stack.tag}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# -- processes and their CPU ---------------------------------------------------------------------------------------


def _nats_server_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if (entry / "comm").read_text().strip() == "nats-server":
                    return int(entry.name)
    return None


def process_sources(stack: Stack, args: argparse.Namespace) -> dict[str, PidSource]:
    """Every process a purchase keeps busy, by name (a server's workers count with their supervisor), and the rest
    of the stack: the other services and relays consume the orders' events."""
    children = stack.children()
    database = f"{stack.servers.database_prefix}orders"
    redis_pid = redis_server_pid(args.redis_url)
    sources: dict[str, PidSource] = {
        "postgres": lambda: postgres_backend_pids(args.postgres_url, database),
        "redis": lambda: [redis_pid],
    }
    if (nats_pid := _nats_server_pid()) is not None:
        sources["nats"] = lambda: [nats_pid]
    for name, pid in sorted(children.items(), key=lambda item: item[0] not in ("gateway", "orders")):
        sources[name] = lambda pid=pid: [pid]  # type: ignore[misc]
    return sources


# -- one burst -----------------------------------------------------------------------------------------------------


def reserved_units(client: redis.Redis, prefix: str, sale_id: int) -> int:
    """Units Redis has reserved for the sale so far (its meta hash, see `RedisSaleStock.keys`)."""
    value = client.hget(f"{prefix}:flash:{{sale:{sale_id}}}:meta", "reserved")
    return int(value) if value is not None else 0


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    with suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def _inode_of_local_port(port: int) -> str | None:
    """The socket inode of a loopback TCP connection by its local port (/proc/net/tcp)."""
    wanted = f":{port:04X}"
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(path).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[1].endswith(wanted):
                    return fields[9]
    return None


def writing_worker(stack: Stack, args: argparse.Namespace) -> int | None:
    """The orders worker with a writing transaction open on the orders database now (a purchase batch between its
    Redis reservations and its commit), or None."""
    database = f"{stack.servers.database_prefix}orders"

    async def client_ports() -> list[int]:
        conn = await asyncpg.connect(_plain(args.postgres_url))
        try:
            rows = await conn.fetch(
                "SELECT client_port FROM pg_stat_activity WHERE datname = $1 AND backend_xid IS NOT NULL "
                "AND client_port IS NOT NULL",
                database,
            )
        finally:
            await conn.close()
        return [int(r["client_port"]) for r in rows]

    inodes = {inode for port in asyncio.run(client_ports()) if (inode := _inode_of_local_port(port)) is not None}
    if not inodes:
        return None
    return next((pid for pid in stack.workers("orders") if _socket_inodes(pid) & inodes), None)


def kill_one_worker_when_selling(stack: Stack, args: argparse.Namespace, sale_id: int) -> dict[str, Any]:
    """Once a quarter of the stock is reserved in Redis, SIGKILL the orders worker that is writing a purchase batch
    (reservations made, orders not committed), or any worker if none is caught writing within a second."""
    client = redis.Redis.from_url(args.redis_url)
    try:
        deadline = time.monotonic() + args.arrival_seconds + args.timeout
        while (reserved := reserved_units(client, stack.tag, sale_id)) < args.stock // 4:
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        victim = None
        look_until = time.monotonic() + 1.0
        while victim is None and time.monotonic() < look_until:
            victim = writing_worker(stack, args)
        caught_writing = victim is not None
        victim = victim or stack.workers("orders")[0]
        os.kill(victim, signal.SIGKILL)
        reserved = reserved_units(client, stack.tag, sale_id)
        return {"pid": victim, "caught_writing": caught_writing, "reserved_when_killed": reserved,
                "killed_at": time.time()}  # fmt: skip
    finally:
        client.close()


def answers_file(workdir: Path, shard: int) -> Path:
    return workdir / f"answers-{shard}.json"


def run_load(
    stack: Stack,
    args: argparse.Namespace,
    workdir: Path,
    sale_id: int,
    warmup_sale_id: int,
    label: str,
    sources: dict[str, PidSource],
    *,
    kill: bool,
) -> tuple[dict[str, Any], dict[str, dict[int, float]]]:
    """The burst from `--shards` load generator processes with a common start; the figures of every buyer's answer,
    and the CPU of `sources` at the start (minting tokens and the warm-up are not counted)."""
    shards: list[subprocess.Popen[str]] = []
    for shard in range(args.shards):
        command = [
            *(sys.executable, "-m", "bench.burst.loadgen", "--shard", str(shard), "--shards", str(args.shards)),
            *("--url", f"{stack.gateway}/api/v1/flash-sales/{sale_id}/orders", "--leader", LEADER_SUB),
            *("--buyers", str(args.buyers), "--arrival-seconds", str(args.arrival_seconds)),
            *("--timeout", str(args.timeout), "--connections", str(max(1, args.connections // args.shards))),
            *("--user-prefix", f"{label}-{sale_id}"),
            *("--warmup-url", f"{stack.gateway}/api/v1/flash-sales/{sale_id}"),
            *("--warmup", str(WARMUP_VIEWS // args.shards)),
            *("--warmup-buy-url", f"{stack.gateway}/api/v1/flash-sales/{warmup_sale_id}/orders"),
            *("--warmup-buys", str(max(1, WARMUP_BUYS // args.shards))),
            *("--answers", str(answers_file(workdir, shard))),
        ]
        shards.append(subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    try:
        for process in shards:
            assert process.stdout is not None
            if json.loads(process.stdout.readline() or '{"event": "died"}')["event"] != "ready":
                raise SystemExit(f"a load generator failed before the burst (exit code {process.wait()})")
        start = time.time() + 0.5
        for process in shards:
            assert process.stdin is not None
            process.stdin.write(f"go {start}\n")
            process.stdin.flush()
        time.sleep(max(0.0, start - time.time()))
        before = cpu_snapshot(sources)
        killed = kill_one_worker_when_selling(stack, args, sale_id) if kill else None
        done = []
        for process in shards:
            assert process.stdout is not None
            done.append(json.loads(process.stdout.readline() or '{"event": "died"}'))
            if process.wait(timeout=60) != 0 or done[-1]["event"] != "done":
                raise SystemExit(f"a load generator failed (exit code {process.returncode})")
    finally:
        for process in shards:
            if process.poll() is None:
                process.kill()
                process.wait()
    answers = [Answer(*a) for shard in range(args.shards) for a in json.loads(answers_file(workdir, shard).read_text())]
    result = summarise(answers)
    warmup: Counter[str] = Counter()
    for shard in done:
        warmup.update(shard["warmup_statuses"])
    result["sent_over_ms"] = max(shard["sent_over_ms"] for shard in done)
    result["warmup_statuses"] = dict(sorted(warmup.items()))
    result["load_cpu_us_per_request"] = round(sum(shard["cpu_seconds"] for shard in done) / args.buyers * 1e6, 1)
    if killed is not None:
        result["killed_worker"] = killed
    return result, before


def idle_cpu(sources: dict[str, PidSource], seconds: float) -> dict[str, float]:
    """CPU milliseconds per second each group spends with no load at all (relays polling, periodic jobs): what
    part of a burst's CPU would have been spent anyway."""
    before = cpu_snapshot(sources)
    time.sleep(seconds)
    after = cpu_snapshot(sources)
    per_second = cpu_us_per_request(before, after, 1)
    return {name: round(us / seconds / 1000, 1) for name, us in per_second.items()}


def wait_until_quiet(
    stack: Stack, sources: dict[str, PidSource], idle: dict[str, float] | None, timeout: float = 60.0
) -> bool:
    """Until the gateway and orders are idle again: requests whose buyers gave up may still be queued or served,
    and their cost belongs to the burst. Idle is a quick answer through the gateway and (once `idle` was measured)
    the two back to their idle CPU rate; on a machine this busy a low rate alone can mean starved, not done."""
    busy = {name: sources[name] for name in ("gateway", "orders")}
    allowance = sum((idle or {}).get(name, 0.0) for name in busy) + 50.0  # ms/s: a twentieth of a core above idle
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        first = cpu_snapshot(busy)
        try:
            # Through the gateway's pool to orders and its database: queued behind whatever is left.
            probe = httpx.get(f"{stack.gateway}/api/v1/flash-sales", params={"limit": 1}, headers=OPS, timeout=1.0)
            answered = probe.status_code == 200
        except httpx.HTTPError:
            answered = False
        time.sleep(0.5)
        rate = sum(cpu_us_per_request(first, cpu_snapshot(busy), 1).values()) / 1000 / 0.5
        if answered and (idle is None or rate <= allowance):
            return True
    return False


def recover(stack: Stack, grace: float) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "bench.burst.recover", "--grace", str(grace)],
        cwd=REPO,
        env=stack.tool_env(),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return int(out.stdout.strip().splitlines()[-1])


def settle(
    stack: Stack, args: argparse.Namespace, sale_id: int, load: dict[str, Any], *, killed: dict[str, Any] | None
) -> dict[str, Any]:
    """Wait until the sale's books agree (purchases still being written, or orphans of a killed worker released
    by the recovery step), then check them."""
    database_url = stack.servers.database_url("orders")
    created = load["created"]
    released = 0
    deadline = time.monotonic() + 90
    while True:
        if killed is not None:
            # A reservation made before the kill without its order is an orphan once the load is over and every
            # client has its answer: released by the same function the orders job runs after a crash.
            grace = max(1.0, min(args.recovery_grace, time.time() - killed["killed_at"] - 1.0))
            released += recover(stack, grace)
        report = httpx.get(f"{stack.gateway}/api/v1/flash-sales/{sale_id}/reconciliation", headers=OPS, timeout=30)
        report.raise_for_status()
        reconciliation = report.json()
        figures = asyncio.run(_db_figures(database_url, sale_id))
        if reconciliation["consistent"] and figures["sold"] >= created:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    problems = sale_problems(
        stock=figures["stock"],
        sold=figures["sold"],
        created=created,
        unanswered=load["timeouts"] + load["connection_errors"] + load["server_errors"],
        buyers=args.buyers,
        reconciliation=reconciliation,
        crashed=killed is not None,
    )
    if figures["max_per_user"] > figures["limit"]:
        problems.append(f"a buyer holds {figures['max_per_user']} units, above the limit {figures['limit']}")
    return {
        "units_sold_in_database": figures["sold"],
        "orders": figures["orders"],
        "remaining_in_database": figures["remaining"],
        "redis": reconciliation["redis"],
        "reservations_released_by_recovery": released,
        "oversold": max(0, figures["sold"] - figures["stock"]),
        "consistent": not problems,
        "problems": problems,
    }


def burst(stack: Stack, args: argparse.Namespace, workdir: Path, label: str, *, kill: bool = False) -> dict[str, Any]:
    product = create_product(stack.gateway)
    sale_id = create_sale(stack.gateway, product, args.stock)
    warmup_sale_id = create_sale(stack.gateway, product, WARMUP_STOCK)
    sources = process_sources(stack, args)
    wait_until_quiet(stack, sources, None)
    idle = idle_cpu(sources, args.idle_seconds)
    result, before = run_load(stack, args, workdir, sale_id, warmup_sale_id, label, sources, kill=kill)
    measured_from = time.monotonic()
    result["sale_id"] = sale_id
    killed = result.get("killed_worker")
    if killed is not None:
        result["worker_replaced"] = wait_for_workers(stack, stack.orders_workers, exclude=killed["pid"])
    result["books"] = settle(stack, args, sale_id, result, killed=killed)
    result["idle_cpu_ms_per_second"] = idle
    if killed is None:
        # Everything the burst cost, until the servers are idle again, less what they spend idle meanwhile. (A
        # killed worker's CPU time leaves with it: no figure for that burst.)
        result["quiet_again"] = wait_until_quiet(stack, sources, idle)
        after = cpu_snapshot(sources)
        window = time.monotonic() - measured_from
        raw = cpu_us_per_request(before, after, args.buyers)
        result["cpu_us_per_request"] = {
            name: round(max(0.0, us - idle.get(name, 0.0) * 1000 * window / args.buyers), 1) for name, us in raw.items()
        }
        result["cpu_window_seconds"] = round(window, 1)
    print(
        f"{label:22} sold {result['books']['units_sold_in_database']}/{args.stock}"
        f"  201 {result['created']}  5xx {result['server_errors']}  timeouts {result['timeouts']}"
        f"  sold out after {result['sold_out_after_ms']} ms  p50 {result['p50_ms']} p99 {result['p99_ms']}"
        f" max {result['max_ms']} ms  books {'ok' if result['books']['consistent'] else result['books']['problems']}",
        flush=True,
    )
    if "cpu_us_per_request" in result:
        print(f"{'':22} CPU µs/request {result['cpu_us_per_request']}", flush=True)
    return result


def wait_for_workers(stack: Stack, count: int, *, exclude: int, timeout: float = 30.0) -> bool:
    """Until uvicorn has replaced the killed worker (the service is back to `count` workers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = stack.workers("orders")
        if len(workers) >= count and exclude not in workers:
            return True
        time.sleep(0.1)
    return False


# -- the report ----------------------------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def report(runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    plain = {name: run for name, run in runs.items() if "killed_worker" not in run}
    crashed = {name: run for name, run in runs.items() if "killed_worker" in run}
    one, two = runs.get("orders_workers_1"), runs.get("orders_workers_2")
    problems = [f"{name}: {p}" for name, run in runs.items() for p in run["books"]["problems"]]
    problems += [f"{name}: {run['server_errors']} answers 5xx" for name, run in plain.items() if run["server_errors"]]
    problems += [f"{name}: {run['timeouts']} timeouts" for name, run in runs.items() if run["timeouts"]]
    problems += [
        f"{name}: {run['connection_errors']} broken connections"
        for name, run in plain.items()
        if run["connection_errors"]
    ]
    out: dict[str, Any] = {
        "benchmark": "burst",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "oversold": sum(run["books"]["oversold"] for run in runs.values()),
        "ok": not problems,
        "problems": problems,
    }
    for name, run in plain.items():
        if "cpu_us_per_request" in run:
            # What holds still when other work on the machine moves every latency: the whole stack's CPU per buyer
            # (load generator included), and the rate two cores of its own would answer at.
            total = sum(run["cpu_us_per_request"].values()) + run["load_cpu_us_per_request"]
            out[f"{name}_cpu"] = {
                "stack_us_per_request": round(total - run["load_cpu_us_per_request"], 1),
                "with_load_generator_us_per_request": round(total, 1),
                "answers_per_second_on_own_cores": round((os.cpu_count() or 1) * 1e6 / total) if total else None,
            }
    if one and two:
        out["two_over_one_orders_workers"] = {
            "answers_per_second": _ratio(two["answers_per_second"], one["answers_per_second"]),
            "sold_out_after": _ratio(two["sold_out_after_ms"], one["sold_out_after_ms"]),
            "p50": _ratio(two["p50_ms"], one["p50_ms"]),
            "p99": _ratio(two["p99_ms"], one["p99_ms"]),
        }
    for name, run in crashed.items():
        out[f"{name}_summary"] = {
            "oversold": run["books"]["oversold"],
            "books_consistent": run["books"]["consistent"],
            "answers_5xx": run["server_errors"],
            "clean_5xx": run["clean_server_errors"],
            "timeouts": run["timeouts"],
            "broken_connections": run["connection_errors"],
            "released_by_recovery": run["books"]["reservations_released_by_recovery"],
            "worker_replaced": run["worker_replaced"],
        }
    out["setup"] = {
        "stack": f"python -m services.launcher --scaled: every service and the gateway with {args.workers} workers, "
        "orders with the count under test, PostgreSQL, Redis, NATS on this machine",
        "sale": f"{args.stock} units, 1 per buyer",
        "load": f"bench.burst.loadgen in {args.shards} processes: {args.buyers} distinct buyers evenly over "
        f"{args.arrival_seconds} s, open loop, {args.connections} pooled connections to the gateway in all, client "
        f"timeout {args.timeout} s; before it (not counted) {WARMUP_VIEWS} GETs of the sale and {WARMUP_BUYS} "
        "purchases in another sale",
        "settings": BENCH_SETTINGS,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_end": os.getloadavg(),
    }
    out["runs"] = runs
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
        help="an administrative URL: each stack creates (and the bench drops) its databases next to it",
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--nats-url", default=os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--orders-workers", default="1,2", help="orders worker counts, one stack each")
    parser.add_argument("--workers", type=int, default=2, help="workers of every other service and the gateway")
    parser.add_argument("--stock", type=int, default=500)
    parser.add_argument("--buyers", type=int, default=10_000)
    parser.add_argument("--arrival-seconds", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a buyer waits for an answer")
    parser.add_argument("--connections", type=int, default=512, help="pooled connections to the gateway, in all")
    parser.add_argument("--shards", type=int, default=4, help="load generator processes")
    parser.add_argument("--no-kill", dest="kill", action="store_false", help="skip the burst with a worker killed")
    parser.add_argument("--idle-seconds", type=float, default=2.0, help="idle CPU measured before each burst")
    parser.add_argument("--recovery-grace", type=float, default=5.0, help="orphan age for the recovery step")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--logs", type=Path, default=None, help="keep the launcher's logs here (default: dropped)")
    args = parser.parse_args()
    counts = [int(n) for n in args.orders_workers.split(",")]
    started = time.monotonic()
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as temporary:
        workdir = args.logs or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        for count in counts:
            with scaled_stack(args, count, workdir) as stack:
                runs[f"orders_workers_{count}"] = burst(stack, args, workdir, f"orders_workers_{count}")
                if args.kill and count == counts[-1]:
                    runs["kill_one_orders_worker"] = burst(stack, args, workdir, "kill_one_orders_worker", kill=True)
    out = report(runs, args)
    out["seconds"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {args.output} ({out['seconds']} s)")
    if not out["ok"]:
        print(*out["problems"], sep="\n", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
