"""Flash-sale purchase throughput and latency against the real orders service, each as a ratio measured in this run.

    .venv/bin/python -m bench.flash.bench_flash            # about 2 minutes; results in bench/results/flash.json

Setup (all real processes on loopback):
- a throwaway PostgreSQL database (created and migrated here, dropped at the end) and a key prefix of its own in
  Redis (deleted at the end);
- `orders-redis`: uvicorn running the orders service with `ORDERS_REDIS_URL` (Redis decides, PostgreSQL stores);
- `orders-db`: the same service without Redis (PostgreSQL is the only authority);
- `gateway`: `python -m services.gateway` with `GATEWAY_ORDERS_URL` pointed at `orders-redis`;
- a stand-in leaders directory (a thread in this process; the orders service caches a leader for the whole run);
- the outbox relay out of the servers, as in the scaled deployment (the events wait in the outbox);
- load from `bench.flash.loadgen`, a separate process: a fresh buyer (own JWT) and Idempotency-Key per request,
  minted before the timed part, closed loop with fixed concurrency, bounded in requests and time.

Every purchase variant also reports the CPU microseconds per request of each process involved (orders, its
PostgreSQL backends, Redis, the gateway): a cost that holds still when the machine's other load moves the
throughput ratios.

Variants, interleaved in every round (median of `--rounds` ≥ 3, after an uncounted short warm-up round 0):
`trivial` (GET /healthz of orders-redis), `flash` (purchase on orders-redis, stock to spare), `soldout` (purchase on
a sale the warm-up sold out), `db_flash` (purchase on orders-db), `gateway_flash` (purchase via the gateway).
Then a latency run on orders-redis, open loop at 70% of the median `flash` throughput.

After every run the database and Redis are checked: sold ≤ stock; sold == min(stock, buyers) when the buyers were
enough; every 201 is an order; nobody above the per-user limit; the reconciliation report (Redis vs database
reservations, buyers and remaining stock) consistent, i.e. every reservation ended as exactly one order or one release.
`oversold` sums units sold beyond stock over every run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from bench.processes import (
    PidSource,
    cpu_snapshot,
    cpu_us_per_request,
    postgres_backend_pids,
    redis_server_pid,
    wait_until_serving,
)
from services.common.testing import free_port, jwks_url_for_tests, service_token, sign_test_token

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "flash.json"
UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
LEADER = "bench-leader"
BODY = json.dumps({"leader_id": LEADER, "quantity": 1})
VARIANTS = ("trivial", "flash", "soldout", "db_flash", "gateway_flash")
SOLDOUT_STOCK = 100
#: Seconds per variant in the uncounted warm-up round (round 0).
WARMUP_ROUND_SECONDS = 2.0


# -- processes -----------------------------------------------------------------------------------------------------


class Servers:
    def __init__(self, logdir: Path, *, tree: Path = REPO) -> None:
        self.logdir = logdir
        #: The source tree the servers run from (another checkout compares two versions on one machine).
        self.tree = tree
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.urls: dict[str, str] = {}

    def start(self, name: str, command: list[str], env: dict[str, str], url: str) -> None:
        with (self.logdir / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                command, cwd=self.tree, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
            )
        self.urls[name] = url
        wait_until_serving(self.processes[name], url + "/healthz", log=self.logdir / f"{name}.log")

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def orders_command(port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", "services.orders.app:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), *UVICORN_FLAGS]  # fmt: skip


class _LeaderHandler(BaseHTTPRequestHandler):
    """GET /internal/leaders/<id>: every leader is active (the orders service caches the answer for the run).
    POST /internal/service-tokens: stands in for accounts, giving orders its own token (signed with the test key
    the servers verify with)."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        service = json.loads(self.rfile.read(length) or b"{}").get("service", "orders")
        body = json.dumps({"access_token": service_token(service), "token_type": "bearer", "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        leader_id = self.path.rsplit("/", 1)[-1]
        body = json.dumps(
            {"leader_id": leader_id, "status": "active", "level": None, "pickup_point": {"name": "bench point"}}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def leaders_stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LeaderHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


# -- database and redis --------------------------------------------------------------------------------------------


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    name = f"bench_flash_{os.getpid()}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_plain(admin_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    asyncio.run(admin(f"CREATE DATABASE {name}"))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        command = [sys.executable, "-m", "services.common.migrate", "upgrade", "orders", "--url", url]
        subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=120)
        yield url
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@contextmanager
def redis_prefix(url: str) -> Iterator[str]:
    prefix = f"benchflash{os.getpid()}"
    client = redis.Redis.from_url(url)
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


# -- the service's API ---------------------------------------------------------------------------------------------


def token(sub: str, role: str) -> str:
    """A token as accounts signs them, with the test key whose JWKS the servers verify with (`server_env`)."""
    return sign_test_token(sub, [role], ttl_seconds=3600)


def server_env(stand_in_url: str) -> dict[str, str]:
    """What every server of a run needs: the test key's JWKS, and where its service token comes from. The outbox
    relay runs apart, as in the scaled deployment (`make run-scaled`): the bench measures the purchase, and an
    in-process relay here would spend the server's CPU retrying subscribers that do not run."""
    return {
        "AUTH_JWKS_URL": jwks_url_for_tests(),
        "AUTH_ACCOUNTS_URL": stand_in_url,
        "EVENTS_RELAY_IN_PROCESS": "false",
    }


OPS = {"Authorization": "Bearer " + token("bench-ops", "ops")}


def create_product(base: str) -> int:
    body = {"name": "bench eggs 30", "price_fen": 1990, "stock": 1_000_000_000}
    response = httpx.post(base + "/api/v1/products", json=body, headers=OPS, timeout=10)
    response.raise_for_status()
    return int(response.json()["id"])


def create_sale(base: str, product_id: int, stock: int) -> int:
    starts = datetime.now(UTC) - timedelta(minutes=1)
    body = {"product_id": product_id, "price_fen": 100, "stock": stock, "per_user_limit": 1,
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()}  # fmt: skip
    response = httpx.post(base + "/api/v1/flash-sales", json=body, headers=OPS, timeout=10)
    response.raise_for_status()
    return int(response.json()["id"])


def load(url: str, args: argparse.Namespace, *, prefix: str, post: bool, expect: str, rate: float = 0.0,
         duration: float | None = None, warmup: int | None = None) -> dict[str, Any]:  # fmt: skip
    command = [sys.executable, "-m", "bench.flash.loadgen", "--url", url, "--user-prefix", prefix,
               "--expect", expect, "--concurrency", str(args.concurrency), "--requests", str(args.requests),
               "--duration", str(duration or args.duration),
               "--warmup", str(args.warmup if warmup is None else warmup)]  # fmt: skip
    if post:
        command += ["--body", BODY]
    if rate:
        command += ["--rate", str(rate), "--connection-limit", "256"]
    out = subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=(duration or args.duration) + 180)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


# -- invariants ----------------------------------------------------------------------------------------------------


async def _db_figures(db_url: str, sale_id: int) -> dict[str, int]:
    conn = await asyncpg.connect(_plain(db_url))
    try:
        sale = await conn.fetchrow("SELECT stock, remaining, per_user_limit FROM flash_sales WHERE id = $1", sale_id)
        per_user = await conn.fetch(
            "SELECT o.customer_id, sum(l.quantity) AS units FROM orders o JOIN order_lines l ON l.order_id = o.id "
            "WHERE o.flash_sale_id = $1 AND o.status <> 'cancelled' GROUP BY o.customer_id",
            sale_id,
        )
        quota_max = await conn.fetchval(
            "SELECT coalesce(max(quantity), 0) FROM flash_sale_purchases WHERE sale_id = $1", sale_id
        )
        orders = await conn.fetchval(
            "SELECT count(*) FROM orders WHERE flash_sale_id = $1 AND status <> 'cancelled'", sale_id
        )
    finally:
        await conn.close()
    units = [int(r["units"]) for r in per_user]
    return {
        "stock": int(sale["stock"]),
        "remaining": int(sale["remaining"]),
        "limit": int(sale["per_user_limit"]),
        "sold": sum(units),
        "orders": int(orders),
        "buyers": len(units),
        "max_per_user": max(units, default=0),
        "max_quota_row": int(quota_max),
    }


def check_invariants(
    base: str, db_url: str, sale_id: int, *, buyers_sent: int, created: int, timeout: float = 60.0
) -> dict[str, Any]:
    """Wait until the sale is quiet and consistent (work after the decision may still be finishing), then check."""
    deadline = time.monotonic() + timeout
    while True:
        report = httpx.get(f"{base}/api/v1/flash-sales/{sale_id}/reconciliation", headers=OPS, timeout=30).json()
        figures = asyncio.run(_db_figures(db_url, sale_id))
        if (report["consistent"] and figures["orders"] >= created) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    stock, sold = figures["stock"], figures["sold"]
    problems = list(report["differences"])
    if sold > stock:
        problems.append(f"oversold: {sold} sold of {stock}")
    if buyers_sent >= stock and sold != stock:
        problems.append(f"{buyers_sent} buyers for {stock} units but {sold} sold")
    if sold != created:
        problems.append(f"{created} purchases answered 201 but {sold} units are on orders")
    if figures["max_per_user"] > figures["limit"] or figures["max_quota_row"] > figures["limit"]:
        problems.append(f"a buyer holds more than the limit {figures['limit']}")
    if stock - figures["remaining"] != sold:
        problems.append(f"stock {stock} - remaining {figures['remaining']} != sold {sold}")
    return {**figures, "oversold": max(0, sold - stock), "consistent": not problems, "problems": problems}


# -- the runs ------------------------------------------------------------------------------------------------------


def process_sources(
    servers: Servers, server: str, target: str, args: argparse.Namespace, db_url: str
) -> dict[str, PidSource]:
    """The processes a purchase run keeps busy: the orders server, its PostgreSQL backends, Redis when that server
    uses it, and the gateway when the load goes through it."""
    orders_pid = servers.processes[server].pid
    database = db_url.rsplit("/", 1)[1]
    sources: dict[str, PidSource] = {
        "orders": lambda: [orders_pid],
        "postgres": lambda: postgres_backend_pids(args.postgres_url, database),
    }
    if server == "orders_redis":
        redis_pid = redis_server_pid(args.redis_url)
        sources["redis"] = lambda: [redis_pid]
    if target == "gateway":
        gateway_pid = servers.processes["gateway"].pid
        sources["gateway"] = lambda: [gateway_pid]
    return sources


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with (
        throwaway_database(args.postgres_url) as db_url,
        redis_prefix(args.redis_url) as prefix,
        leaders_stub() as leaders_url,
    ):
        servers = Servers(workdir)
        try:
            common = {"ORDERS_DATABASE_URL": db_url, "ORDERS_LEADERS_URL": leaders_url,
                      "ORDERS_LEADER_CACHE_SECONDS": "3600", "ORDERS_LOG_LEVEL": "WARNING",
                      **server_env(leaders_url)}  # fmt: skip
            ports = {name: free_port() for name in ("orders_redis", "orders_db", "gateway")}
            url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            servers.start(
                "orders_redis",
                orders_command(ports["orders_redis"], args.orders_workers),
                {**common, "ORDERS_REDIS_URL": args.redis_url, "ORDERS_REDIS_PREFIX": prefix},
                url["orders_redis"],
            )
            db_command = orders_command(ports["orders_db"], args.orders_workers)
            servers.start("orders_db", db_command, common, url["orders_db"])
            gateway_env = {"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(ports["gateway"]),
                           "GATEWAY_WORKERS": str(args.gateway_workers), "GATEWAY_LOG_LEVEL": "WARNING",
                           "GATEWAY_ORDERS_URL": url["orders_redis"], "GATEWAY_LEADERS_URL": leaders_url,
                           "GATEWAY_POINTS_URL": leaders_url, "GATEWAY_ACCOUNTS_URL": leaders_url,
                           # Every buyer comes from this one address: the per-address limit is raised far above
                           # the load (the per-user one, a purchase per buyer, stays as shipped).
                           "GATEWAY_RATE_LIMIT_FLASH_PER_ADDRESS": "1000000/second",
                           **server_env(leaders_url)}  # fmt: skip
            servers.start("gateway", [sys.executable, "-m", "services.gateway"], gateway_env, url["gateway"])
            products = {name: create_product(url[name]) for name in ("orders_redis", "orders_db")}
            oversold = 0

            def purchase_run(label: str, target: str, server: str, *, stock: int, **kw: Any) -> dict[str, Any]:
                nonlocal oversold
                sale_id = create_sale(url[server], products[server], stock)
                path = f"/api/v1/flash-sales/{sale_id}/orders"
                expect = "409" if label == "soldout" else "201"
                sources = process_sources(servers, server, target, args, db_url)
                before = cpu_snapshot(sources)
                result = load(url[target] + path, args, prefix=f"{label}-{sale_id}", post=True, expect=expect, **kw)
                after = cpu_snapshot(sources)
                # The warm-up's purchases count too: they are orders of the same sale (in the sold-out variant
                # they are the buyers who competed for the units; the measured ones must all be told sold out).
                created = result["statuses"].get("201", 0) + result["warmup_statuses"].get("201", 0)
                check = check_invariants(
                    url[server], db_url, sale_id, buyers_sent=result["sent_including_warmup"], created=created
                )
                oversold += check["oversold"]
                result["cpu_us_per_request"] = cpu_us_per_request(before, after, result["sent_including_warmup"])
                return {**result, "sale_id": sale_id, "invariants": check}

            spare = args.warmup + args.requests
            # Round 0 runs every variant briefly and is not counted: the first purchases of a fresh database and
            # server (connection pools, prepared statements, the first pages of new tables) ran at a third of the
            # later rounds' rate and pulled the median down.
            for round_number in range(0 if args.warmup_round else 1, args.rounds + 1):
                short = WARMUP_ROUND_SECONDS if round_number == 0 else None
                for variant in VARIANTS:
                    if variant == "trivial":
                        result = load(
                            url["orders_redis"] + "/healthz", args, prefix=f"t{round_number}", post=False,
                            expect="200", duration=short,
                        )  # fmt: skip
                    elif variant == "flash":
                        result = purchase_run(variant, "orders_redis", "orders_redis", stock=spare, duration=short)
                    elif variant == "soldout":
                        warmup = max(args.warmup, SOLDOUT_STOCK * 3)
                        result = purchase_run(
                            variant, "orders_redis", "orders_redis", stock=SOLDOUT_STOCK, warmup=warmup, duration=short
                        )
                    elif variant == "db_flash":
                        result = purchase_run(variant, "orders_db", "orders_db", stock=spare, duration=short)
                    else:
                        result = purchase_run(variant, "gateway", "orders_redis", stock=spare, duration=short)
                    if round_number > 0:
                        runs.append({"round": round_number, "variant": variant, **result})
                    check = result.get("invariants", {"consistent": True})
                    shown = round_number or "0 (warm-up, not counted)"
                    print(
                        f"round {shown} {variant:14} {result['rps']:9.1f} rps  p50 {result['p50_ms']:7.2f} ms"
                        f"  p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}"
                        f"  invariants {'ok' if check['consistent'] else check['problems']}",
                        flush=True,
                    )

            flash_rps = statistics.median(r["rps"] for r in runs if r["variant"] == "flash")
            rate = round(flash_rps * 0.7, 1)
            latency = purchase_run(
                "latency", "orders_redis", "orders_redis", stock=spare, rate=rate, duration=args.latency_duration
            )
            latency["rate"] = rate
            print(
                f"open loop at {rate} rps (70% of {flash_rps}): p50 {latency['p50_ms']} ms p99 {latency['p99_ms']} ms"
                f"  achieved {latency['rps']} rps  invariants "
                f"{'ok' if latency['invariants']['consistent'] else latency['invariants']['problems']}",
                flush=True,
            )
        finally:
            servers.stop()
    return {"runs": runs, "latency": latency, "oversold": oversold}


def summarise(measured: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    runs = measured["runs"]
    median: dict[str, dict[str, float]] = {}
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        median[variant] = {
            key: float(statistics.median(r[key] for r in mine))
            for key in ("rps", "p50_ms", "p99_ms")
            if all(key in r for r in mine)
        }
        processes = {name for r in mine for name in r.get("cpu_us_per_request", {})}
        for name in sorted(processes):
            median[variant][f"{name}_cpu_us_per_request"] = float(
                statistics.median(r["cpu_us_per_request"].get(name, 0.0) for r in mine)
            )

    def ratio(a: str, b: str) -> float:
        return round(median[a]["rps"] / median[b]["rps"], 3)

    def per_round(a: str, b: str) -> list[float]:
        by_round: dict[int, dict[str, float]] = {}
        for r in runs:
            by_round.setdefault(r["round"], {})[r["variant"]] = r["rps"]
        return [round(v[a] / v[b], 3) for _, v in sorted(by_round.items())]

    latency = measured["latency"]
    all_checks = [r["invariants"] for r in runs if "invariants" in r] + [latency["invariants"]]
    return {
        "benchmark": "flash",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "flash_over_trivial": ratio("flash", "trivial"),
        "soldout_over_trivial": ratio("soldout", "trivial"),
        "db_flash_over_trivial": ratio("db_flash", "trivial"),
        "gateway_over_direct_flash": ratio("gateway_flash", "flash"),
        "per_round": {
            "flash_over_trivial": per_round("flash", "trivial"),
            "soldout_over_trivial": per_round("soldout", "trivial"),
            "db_flash_over_trivial": per_round("db_flash", "trivial"),
            "gateway_over_direct_flash": per_round("gateway_flash", "flash"),
        },
        "median": median,
        "flash_latency_at_70pct": {
            "rate_rps": latency["rate"],
            "achieved_rps": latency["rps"],
            "p50_ms": latency["p50_ms"],
            "p99_ms": latency["p99_ms"],
            "max_ms": latency["max_ms"],
            "errors": latency["errors"],
        },
        "oversold": measured["oversold"],
        "invariants_ok": all(c["consistent"] for c in all_checks),
        "invariant_problems": [p for c in all_checks for p in c["problems"]],
        "setup": {
            "servers": {
                "orders": f"uvicorn {' '.join(UVICORN_FLAGS)}, {args.orders_workers} worker(s) each: orders-redis "
                "(ORDERS_REDIS_URL set) and orders-db (PostgreSQL only), both on a throwaway PostgreSQL database",
                "gateway": f"python -m services.gateway, {args.gateway_workers} worker(s), in front of orders-redis",
            },
            "load": {
                "process": "bench.flash.loadgen (aiohttp on uvloop); fresh buyer JWT + Idempotency-Key per request",
                "concurrency": args.concurrency,
                "max_requests": args.requests,
                "max_seconds": args.duration,
                "warmup_requests": args.warmup,
                "latency_run": f"open loop at 70% of the median flash rps for {args.latency_duration} s",
            },
            "rounds": args.rounds,
            "order": "interleaved per round: " + ", ".join(VARIANTS),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "runs": runs,
        "latency_run": latency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
        help="an administrative URL: the bench creates (and drops) its own database next to it",
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--orders-workers", type=int, default=1)
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=20_000, help="per run, upper bound")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per run, upper bound")
    parser.add_argument("--warmup", type=int, default=200, help="requests per run before measuring")
    parser.add_argument(
        "--no-warmup-round", dest="warmup_round", action="store_false", help="skip the uncounted round 0"
    )
    parser.add_argument("--latency-duration", type=float, default=6.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (the result is a median)")
    with tempfile.TemporaryDirectory(prefix="bench-flash-") as workdir:
        report = summarise(measure(args, Path(workdir)), args)
    print()
    print(f"{'variant':16}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}  CPU µs per request")
    for variant, figures in report["median"].items():
        cpu = {
            k.removesuffix("_cpu_us_per_request"): v for k, v in figures.items() if k.endswith("_cpu_us_per_request")
        }
        print(f"{variant:16}{figures['rps']:>10.1f}{figures['p50_ms']:>10.2f}{figures['p99_ms']:>10.2f}  {cpu}")
    for key in ("flash_over_trivial", "soldout_over_trivial", "db_flash_over_trivial", "gateway_over_direct_flash"):
        print(f"{key:28} {report[key]}  (per round {report['per_round'][key]})")
    print(f"flash at 70% of peak: {report['flash_latency_at_70pct']}")
    print(f"oversold = {report['oversold']}, invariants ok = {report['invariants_ok']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.output}")
    if report["oversold"] or not report["invariants_ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
