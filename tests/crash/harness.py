"""Crash injection: the four services as real processes on PostgreSQL and NATS, killed at the worst moments.

    python -m tests.crash.harness --orders 300 --crash-probability 0.04 --seed 7     # `make crash-test`

Each service runs with `CRASH_POINTS` (see services/common/crashpoints.py): it dies like a kill -9 right after a
request committed, before or after the relay published, and after a consumer committed an effect but before it
acknowledged. A supervisor restarts whatever died. A driver plays customers, leaders and ops through the public
API (retrying what a real client would retry, with the same idempotency keys), then waits for every outbox to
drain and asks the orders service to reconcile: every paid line has exactly one commission accrual, every refunded
line one reversal, every picked-up order its purchase points, every held order its points movement.
It prints one JSON report; the run passes when lost == 0, duplicated == 0 and at least `--min-crashes` crashes
happened.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from services.common.clock import utcnow
from services.common.crashpoints import CRASH_EXIT_CODE
from services.common.testing import free_port, jwks_url_for_tests, keys_dir_for_tests, sign_test_token

REPO = Path(__file__).resolve().parents[2]
# Accounts signs with the test key (so the driver can sign its own tokens too) and gives each service its identity.
SERVICES = ("accounts", "leaders", "orders", "points")
PAYMENT_SECRET = "crash-test-payment-secret"
CRASH_POINTS = ("request.after_commit", "relay.before_publish", "relay.after_publish", "consumer.after_commit")
RETRYABLE = (httpx.TransportError,)


# ----------------------------------------------------------------------------------------------- the processes


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    crashes: int = 0
    other_exits: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{self.name}.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, cwd=REPO, env={**os.environ, **self.env}, stdout=log, stderr=log, start_new_session=True
        )

    def check(self) -> None:
        """Restart the process if it died; count a crash when it died at a crash point."""
        assert self.process is not None
        code = self.process.poll()
        if code is None:
            return
        if code == CRASH_EXIT_CODE:
            self.crashes += 1
        else:
            self.other_exits.append(code)
        self.start()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Cluster:
    processes: dict[str, ServiceProcess]
    databases: dict[str, str]
    stream: str

    async def supervise(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for process in self.processes.values():
                process.check()
            await asyncio.sleep(0.05)

    @property
    def crashes(self) -> dict[str, int]:
        return {name: p.crashes for name, p in self.processes.items()}


def _admin_url(pg_url: str) -> str:
    return pg_url.replace("postgresql+asyncpg://", "postgresql://")


@asynccontextmanager
async def cluster(
    pg_url: str, nats_url: str, *, crash_probability: float, seed: int, workdir: Path
) -> AsyncIterator[Cluster]:
    """Fresh databases and stream, three services with crash points, torn down afterwards."""
    import asyncpg

    tag = uuid.uuid4().hex[:8]
    base = pg_url.rsplit("/", 1)[0]
    databases = {svc: f"{base}/crash_{svc}_{tag}" for svc in SERVICES}
    admin = await asyncpg.connect(_admin_url(pg_url))
    try:
        for svc in SERVICES:
            await admin.execute(f'CREATE DATABASE "crash_{svc}_{tag}"')
    finally:
        await admin.close()
    ports = {svc: free_port() for svc in SERVICES}
    stream = f"CRASH_{tag}"
    crash_points = ",".join(f"{point}:{crash_probability}" for point in CRASH_POINTS) if crash_probability else ""
    common_env = {
        "AUTH_JWKS_URL": jwks_url_for_tests(),
        "AUTH_ACCOUNTS_URL": f"http://127.0.0.1:{ports['accounts']}",
        "ACCOUNTS_SIGNING_KEYS_DIR": str(keys_dir_for_tests()),
        "ACCOUNTS_LOG_JSON": "false",
        "EVENTS_NATS_URL": nats_url,
        "EVENTS_NATS_STREAM": stream,
        "EVENTS_POLL_SECONDS": "0.1",
        # A consumer killed before its ack gets the event again after this long (and nothing after it meanwhile).
        "EVENTS_NATS_ACK_WAIT_SECONDS": "2",
        "EVENTS_LEADERS_URL": f"http://127.0.0.1:{ports['leaders']}",
        "EVENTS_ORDERS_URL": f"http://127.0.0.1:{ports['orders']}",
        "EVENTS_POINTS_URL": f"http://127.0.0.1:{ports['points']}",
        "EVENTS_ACCOUNTS_URL": f"http://127.0.0.1:{ports['accounts']}",
        "ORDERS_LEADERS_URL": f"http://127.0.0.1:{ports['leaders']}",
        "ORDERS_POINTS_URL": f"http://127.0.0.1:{ports['points']}",
        "ORDERS_PAYMENT_SECRET": PAYMENT_SECRET,
        "ORDERS_ABANDONED_HOLD_INTERVAL_SECONDS": "0.5",
        "ORDERS_ORPHAN_HOLD_GRACE_SECONDS": "5",
        "CRASH_POINTS": crash_points,
        "CRASH_SEED": str(seed),
        "LEADERS_LOG_JSON": "false",
        "ORDERS_LOG_JSON": "false",
        "POINTS_LOG_JSON": "false",
    }
    processes: dict[str, ServiceProcess] = {}
    try:
        for svc in SERVICES:
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "services.common.migrate", "upgrade", svc, "--url", databases[svc]],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
            env = {**common_env, f"{svc.upper()}_DATABASE_URL": databases[svc]}
            processes[svc] = ServiceProcess(svc, ports[svc], env, workdir / f"{svc}.log")
            processes[svc].start()
        yield Cluster(processes, databases, stream)
    finally:
        for process in processes.values():
            process.stop()
        admin = await asyncpg.connect(_admin_url(pg_url))
        try:
            for svc in SERVICES:
                await admin.execute(f'DROP DATABASE IF EXISTS "crash_{svc}_{tag}" WITH (FORCE)')
        finally:
            await admin.close()


async def _delete_stream(nats_url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(nats_url, connect_timeout=2)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:  # noqa: S110 - the stream may not exist if nothing was ever published
        pass
    finally:
        await nc.close()


# --------------------------------------------------------------------------------------------------- the driver


def token(sub: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign_test_token(sub, roles, ttl_seconds=3600)}"}


OPS = token("ops-crash", "ops")


class Api:
    """Calls that survive the service dying under them: connection errors are retried, as a real client would."""

    def __init__(self, cluster: Cluster) -> None:
        self.urls = {name: p.url for name, p in cluster.processes.items()}
        self.client = httpx.AsyncClient(timeout=10)
        self.retries = 0

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        body: Any = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = self.urls[service] + path
                if raw is not None:
                    response = await self.client.request(method, url, headers=headers, content=raw)
                else:
                    response = await self.client.request(method, url, headers=headers, json=body)
                if response.status_code < 500:
                    return response
                if response.status_code not in (502, 503, 504) and time.monotonic() > deadline:
                    return response
            except RETRYABLE:
                if time.monotonic() > deadline:
                    raise
            self.retries += 1
            await asyncio.sleep(0.1)

    async def aclose(self) -> None:
        await self.client.aclose()


def expect(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    if response.status_code not in statuses:
        request = response.request
        raise AssertionError(f"{request.method} {request.url}: {response.status_code} {response.text}")
    data: dict[str, Any] = response.json() if response.content else {}
    return data


async def setup_world(api: Api, rng: random.Random, *, leaders: int, products: int) -> tuple[list[str], list[int]]:
    leader_ids: list[str] = []
    for n in range(leaders):
        sub = f"crash-leader-{n}"
        applicant = token(sub, "customer")
        response = await api.call(
            "leaders",
            "POST",
            "/api/v1/leader-applications",
            headers=applicant | {"Idempotency-Key": f"apply-{sub}"},
            body={
                "name": f"Leader {n}",
                "phone": f"1380000{n:04d}",
                "pickup_point": {"name": f"Point {n}", "address": f"{n} Garden Road", "community": "Crash Court"},
            },
        )
        if response.status_code == 409 and response.json().get("code") == "APPLICATION_ALREADY_PENDING":
            # The attempt that died after its commit did apply: continue with that application.
            pending = await api.call("leaders", "GET", "/api/v1/leader-applications?status=pending", headers=applicant)
            application_id = expect(pending, 200)["items"][0]["id"]
        else:
            application_id = expect(response, 201, 200)["id"]
        approve_path = f"/api/v1/leader-applications/{application_id}/approve"
        approved = await api.call("leaders", "POST", approve_path, headers=OPS)
        if approved.status_code == 409:  # approved by the attempt that crashed before answering
            leader_ids.append(sub)
        else:
            leader_ids.append(expect(approved, 200)["leader_id"])
    product_ids: list[int] = []
    for n in range(products):
        created = expect(
            await api.call(
                "orders",
                "POST",
                "/api/v1/products",
                headers=OPS | {"Idempotency-Key": f"product-{n}"},
                body={"name": f"Crash product {n}", "price_fen": 990 + 100 * n, "stock": 1_000_000},
            ),
            201,
        )
        product_ids.append(created["id"])
    return leader_ids, product_ids


def signature(raw: bytes) -> str:
    return hmac.new(PAYMENT_SECRET.encode(), raw, hashlib.sha256).hexdigest()


@dataclass
class DriveStats:
    orders: int = 0
    paid: int = 0
    cancelled: int = 0
    picked_up: int = 0
    refunds: int = 0
    with_points: int = 0
    points_retries: int = 0


async def drive_order(
    api: Api, rng: random.Random, n: int, leader_ids: list[str], product_ids: list[int], stats: DriveStats
) -> None:
    customer = f"crash-customer-{n}"  # one per order: concurrent orders never race for the same points
    me = token(customer, "customer")
    use_points = 0
    if n % 5 == 0:
        # Sign-ins earn points (once a day per customer; a repeat is 409) that this order then spends.
        await api.call("points", "POST", "/api/v1/points/sign-ins", headers=me)
        account = expect(await api.call("points", "GET", "/api/v1/points/me", headers=me), 200)
        use_points = min(int(account["balance"]) // 100 * 100, 100)
    lines = [
        {"product_id": product_id, "quantity": rng.randint(1, 3)}
        for product_id in rng.sample(product_ids, rng.randint(1, min(3, len(product_ids))))
    ]
    leader_id = rng.choice(leader_ids)
    for _ in range(100):
        created = await api.call(
            "orders",
            "POST",
            "/api/v1/orders",
            headers=me | {"Idempotency-Key": f"order-{n}"},
            body={"leader_id": leader_id, "lines": lines, "points": use_points},
        )
        # A first attempt that died after the points service held the points leaves them held until the orders
        # service's release of the abandoned hold lands (a second or two); the customer simply tries again.
        if created.status_code != 409 or created.json().get("code") != "INSUFFICIENT_POINTS":
            break
        stats.points_retries += 1
        await asyncio.sleep(0.3)
    order = expect(created, 201)
    stats.orders += 1
    stats.with_points += bool(order.get("points_used"))
    order_id = order["id"]

    if rng.random() < 0.15:
        await api.call("orders", "POST", f"/api/v1/orders/{order_id}/cancel", headers=me)
        stats.cancelled += 1
        return

    raw = json.dumps({"order_id": order_id, "transaction_id": f"tx-{n}", "amount_fen": order["payable_fen"]}).encode()
    expect(
        await api.call(
            "orders",
            "POST",
            "/api/v1/payments/notify",
            headers={"X-Payment-Signature": signature(raw), "Content-Type": "application/json"},
            raw=raw,
        ),
        200,
        201,
    )
    stats.paid += 1

    if rng.random() < 0.15:  # refunded before pickup
        await refund_one(api, order_id, order["lines"][0], me, f"refund-{n}-early")
        stats.refunds += 1

    await api.call("orders", "POST", f"/api/v1/orders/{order_id}/arrive", headers=OPS)
    current = expect(await api.call("orders", "GET", f"/api/v1/orders/{order_id}", headers=me), 200)
    if current["status"] != "picked_up":
        leader = token(leader_id, "leader")
        pickup = await api.call(
            "orders",
            "POST",
            f"/api/v1/orders/{order_id}/pickup",
            headers=leader,
            body={"pickup_code": current["pickup_code"]},
        )
        if pickup.status_code != 200:
            after = expect(await api.call("orders", "GET", f"/api/v1/orders/{order_id}", headers=me), 200)
            assert after["status"] == "picked_up", pickup.text
    stats.picked_up += 1

    if rng.random() < 0.3:  # asked back after pickup: an after-sale request, approved at once when small
        await ask_after_sale(api, order_id, order["lines"][-1], me, f"refund-{n}-late")
        stats.refunds += 1


async def refund_one(api: Api, order_id: int, line: dict[str, Any], me: dict[str, str], key: str) -> None:
    response = await api.call(
        "orders",
        "POST",
        f"/api/v1/orders/{order_id}/refunds",
        headers=me | {"Idempotency-Key": key},
        body={"lines": [{"line_id": line["id"], "quantity": 1}], "reason": "crash test"},
    )
    if response.status_code == 409 and response.json().get("code") == "AFTER_SALE_REQUIRED":
        # The daily cut-off batched the order meanwhile: the goods have left, so the customer asks instead.
        await ask_after_sale(api, order_id, line, me, key + "-after-sale")
        return
    expect(response, 201, 200)


async def ask_after_sale(api: Api, order_id: int, line: dict[str, Any], me: dict[str, str], key: str) -> None:
    response = await api.call(
        "orders",
        "POST",
        f"/api/v1/orders/{order_id}/after-sales",
        headers=me | {"Idempotency-Key": key},
        body={"lines": [{"line_id": line["id"], "quantity": 1}], "reason": "damaged", "description": "crash test"},
    )
    expect(response, 201, 200)


async def consumer_backlog(nats_url: str, stream: str) -> dict[str, int]:
    """Events each durable consumer has not acknowledged yet (waiting or being applied)."""
    import nats

    nc = await nats.connect(nats_url, connect_timeout=2)
    try:
        js = nc.jetstream()
        backlog = {}
        for durable in ("leaders", "points"):
            info = await js.consumer_info(stream, durable)
            backlog[durable] = int(info.num_pending) + int(info.num_ack_pending)
        return backlog
    finally:
        await nc.close()


async def wait_for_quiet(api: Api, within_seconds: float, *, nats_url: str, stream: str) -> dict[str, dict[str, int]]:
    """Until no service has pending events and every consumer has acknowledged everything."""
    deadline = time.monotonic() + within_seconds
    counts: dict[str, dict[str, int]] = {}
    quiet_rounds = 0
    while time.monotonic() < deadline:
        for svc in SERVICES:
            counts[svc] = expect(await api.call(svc, "GET", f"/api/v1/events/{svc}/outbox", headers=OPS), 200)
        try:
            backlog = await consumer_backlog(nats_url, stream)
        except Exception:  # a consumer not created yet (its service is restarting): not quiet
            backlog = {"unknown": 1}
        counts["consumers"] = backlog
        if all(c.get("pending", 0) == 0 for c in counts.values()) and not any(backlog.values()):
            quiet_rounds += 1
            if quiet_rounds >= 10:
                return counts
        else:
            quiet_rounds = 0
        await asyncio.sleep(0.3)
    return counts


async def reconcile(api: Api, since: str) -> dict[str, Any]:
    until = (utcnow() + timedelta(minutes=5)).isoformat()
    report = expect(
        await api.call("orders", "POST", "/api/v1/reconciliation", headers=OPS, body={"from": since, "to": until}),
        200,
    )
    return report


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    workdir = Path(args.workdir)
    started = time.monotonic()
    since = (utcnow() - timedelta(minutes=1)).isoformat()
    async with cluster(
        args.postgres_url, args.nats_url, crash_probability=args.crash_probability, seed=args.seed, workdir=workdir
    ) as world:
        stop = asyncio.Event()
        supervisor = asyncio.create_task(world.supervise(stop))
        api = Api(world)
        stats = DriveStats()
        try:
            await wait_until_up(api)
            leader_ids, product_ids = await setup_world(api, rng, leaders=3, products=4)
            semaphore = asyncio.Semaphore(args.concurrency)

            async def one(n: int) -> None:
                async with semaphore:
                    await drive_order(api, random.Random(f"{args.seed}:{n}"), n, leader_ids, product_ids, stats)

            await asyncio.gather(*(one(n) for n in range(args.orders)))
            outbox = await wait_for_quiet(
                api, within_seconds=args.settle_timeout, nats_url=args.nats_url, stream=world.stream
            )
            report = await reconcile(api, since)
        finally:
            stop.set()
            await supervisor
            await api.aclose()
        other_exits = {name: p.other_exits for name, p in world.processes.items() if p.other_exits}
    await _delete_stream(args.nats_url, world.stream)
    crashes = world.crashes
    return {
        "orders": args.orders,
        "seed": args.seed,
        "crash_probability": args.crash_probability,
        "crashes": crashes,
        "crashes_total": sum(crashes.values()),
        "unexpected_exits": other_exits,
        "client_retries": api.retries,
        "driven": stats.__dict__,
        "outbox": outbox,
        "lost": report.get("lost"),
        "duplicated": report.get("duplicated"),
        "reconciliation": report,
        "seconds": round(time.monotonic() - started, 1),
    }


async def wait_until_up(api: Api) -> None:
    for svc in SERVICES:
        expect(await api.call(svc, "GET", "/readyz", headers={}), 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--crash-probability", type=float, default=0.04)
    parser.add_argument("--min-crashes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settle-timeout", type=float, default=120)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--nats-url", default=os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--workdir", default=str(REPO / "var" / "crash"))
    parser.add_argument("--output", default=None, help="also write the JSON report here")
    args = parser.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    ok = result["lost"] == 0 and result["duplicated"] == 0 and result["crashes_total"] >= args.min_crashes
    sys.exit(0 if ok and not result["unexpected_exits"] else 1)


if __name__ == "__main__":
    main()
