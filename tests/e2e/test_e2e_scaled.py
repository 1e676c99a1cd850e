"""`make run-scaled` for real: the launcher's `--scaled` shape on the PostgreSQL, Redis and NATS of TEST_*_URL, and the
whole client flow through its gateway.

Every service runs two workers on its own PostgreSQL database (named `gb_scaletest_<pid>_<service>`, dropped at the
end), flash-sale stock lives in Redis (under a key prefix of this run), events travel over a NATS stream of this run,
and each outbox relay is a process of its own. A customer signs in with WeChat (the development provider), applies
to lead and is approved by the demo ops admin (staff sign-in); another customer orders, pays (development payments),
and picks up after the cut-off and the batch's arrival; an after-sale request is filed and approved by staff;
commission is accrued, then settled by `groupbuy settle` against the same databases; points are earned; a flash
sale is bought; the leader reads their statement. Effects of events are waited for (polled with a deadline), never
slept for. The launcher is then stopped with SIGTERM and every process it started must be gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.migrate import SERVICES
from services.common.testing import free_port
from services.demo import DEMO_STAFF
from services.launcher import ScaledServers
from tests.common.test_metrics import samples, value
from tests.e2e.test_e2e_launcher import is_gone, wait_gone

REPO = Path(__file__).resolve().parents[2]
NEEDED = ("TEST_POSTGRES_URL", "TEST_REDIS_URL", "TEST_NATS_URL")
START_TIMEOUT = 120.0
EFFECT_TIMEOUT = 30.0
SHANGHAI = ZoneInfo("Asia/Shanghai")

pytestmark = [
    pytest.mark.skipif(not all(os.environ.get(name) for name in NEEDED), reason=f"needs {', '.join(NEEDED)}"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads child processes from /proc"),
]

T = TypeVar("T")


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the workers' parents and their workers, the relays), from /proc."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            found.append(child)
            todo.append(child)
    return found


def drop_databases(admin_url: str, names: list[str]) -> None:
    async def drop() -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                for name in names:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            await engine.dispose()

    asyncio.run(drop())


class Scaled:
    def __init__(self, tmp_path: Path) -> None:
        self.ports = {name: free_port() for name in (*SERVICES, "gateway")}
        tag = f"scaletest_{os.getpid()}"
        env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
        env.update({f"{name.upper()}_PORT": str(port) for name, port in self.ports.items()})
        env.update(
            {
                "SCALED_POSTGRES_URL": os.environ["TEST_POSTGRES_URL"],
                "SCALED_REDIS_URL": os.environ["TEST_REDIS_URL"],
                "SCALED_NATS_URL": os.environ["TEST_NATS_URL"],
                "SCALED_DATABASE_PREFIX": f"gb_{tag}_",
                "SCALED_NATS_STREAM": f"GB_{tag.upper()}",
                "ORDERS_REDIS_PREFIX": f"gb_{tag}",
                # Commission is available as soon as it is settled after pickup: the flow settles it by hand.
                "LEADERS_COMMISSION_FREEZE_DAYS": "0",
            }
        )
        self.env = env
        self.servers = ScaledServers.from_environment(env)
        self.log = tmp_path / "launcher.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.launcher", "--scaled", "--var-dir", str(tmp_path / "var")],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.seen: set[int] = set()

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while "Gateway ready:" not in self.output():
            if self.process.poll() is not None:
                pytest.fail(f"the launcher exited with {self.process.returncode}:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"not ready within {START_TIMEOUT} s:\n{self.output()[-4000:]}")
            time.sleep(0.2)

    def processes(self) -> list[int]:
        found = descendants(self.process.pid)
        self.seen.update(found)
        return found

    def database_names(self) -> list[str]:
        return [f"{self.servers.database_prefix}{service}" for service in SERVICES]


@pytest.fixture
def scaled(tmp_path: Path) -> Iterator[Scaled]:
    launched = Scaled(tmp_path)
    try:
        yield launched
    finally:
        print(f"--- launcher ---\n{launched.output()[-8000:]}")  # shown when the test failed
        if launched.process.poll() is None:
            launched.process.kill()
            launched.process.wait(timeout=10)
        for pid in launched.seen:
            if not is_gone(pid):
                try:
                    if Path(f"/proc/{pid}/cwd").resolve() == REPO:
                        os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        drop_databases(launched.servers.postgres_admin_url, launched.database_names())


def until(read: Callable[[], T], done: Callable[[T], bool], what: str, seconds: float = EFFECT_TIMEOUT) -> T:
    """Poll `read` until `done` holds: the effect of an event that crosses processes, NATS and a relay."""
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s; last seen {value!r}")
        time.sleep(0.1)


def ok(response: httpx.Response, *statuses: int) -> Any:
    where = response.request.url.path
    assert response.status_code in (statuses or (200,)), (where, response.status_code, response.text)
    return response.json() if response.content else None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def groupbuy(scaled: Scaled, *args: str) -> str:
    """The operations CLI against the launched system's databases (what an operator runs next to it)."""
    env = dict(scaled.env)
    for service in SERVICES:
        env[f"{service.upper()}_DATABASE_URL"] = scaled.servers.database_url(service)
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_whole_client_flow_against_run_scaled(scaled: Scaled) -> None:
    scaled.wait_ready()
    workers = scaled.processes()
    # Five services with a parent and two workers each, five relays, a gateway with its parent and two workers.
    assert len(workers) >= 5 * 3 + 5 + 3, workers

    with httpx.Client(base_url=scaled.gateway, timeout=15) as api:
        admin = next(s for s in DEMO_STAFF if "ops" in s.roles)
        ops = bearer(
            ok(api.post("/api/v1/auth/staff", json={"username": admin.username, "password": admin.password}))[
                "access_token"
            ]
        )

        # A customer signs in with WeChat, applies to lead and is approved; the next refresh carries the role.
        pair = ok(api.post("/api/v1/auth/wechat", json={"code": "scaled-leader-code"}))
        leader_id = str(pair["user"]["id"])
        point = {"name": "Lotus kiosk", "address": "8 Lotus Road", "community": "Lotus Garden", "city": "上海市"}
        applied = ok(
            api.post(
                "/api/v1/leader-applications",
                headers=bearer(pair["access_token"]),
                json={"name": "Zhao Lei", "phone": "13912345678", "pickup_point": point},
            ),
            201,
        )
        ok(api.post(f"/api/v1/leader-applications/{applied['id']}/approve", headers=ops))

        def refreshed_roles() -> list[str]:
            nonlocal pair
            pair = ok(api.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}))
            return list(pair["user"]["roles"])

        until(refreshed_roles, lambda roles: "leader" in roles, "leader role after approval")
        leader = bearer(pair["access_token"])

        # Another customer joins the community, earns sign-in points, orders with a commission rule in force.
        buyer_pair = ok(api.post("/api/v1/auth/wechat", json={"code": "scaled-buyer-code"}))
        buyer = bearer(buyer_pair["access_token"])
        ok(api.post(f"/api/v1/leaders/{leader_id}/members", headers=buyer), 200, 201)
        ok(api.post("/api/v1/points/sign-ins", headers=buyer), 200, 201)
        rule = {"scope": "default", "mode": "percentage", "rate_bp": 1000}
        ok(api.post("/api/v1/commission/rules", headers=ops, json=rule), 201)
        product = ok(
            api.post("/api/v1/products", headers=ops, json={"name": "Scaled pears", "price_fen": 1500, "stock": 50}),
            201,
        )
        order = ok(
            api.post(
                "/api/v1/orders",
                headers=buyer | {"Idempotency-Key": "scaled-order-1"},
                json={"leader_id": leader_id, "lines": [{"product_id": product["id"], "quantity": 4}]},
            ),
            201,
        )
        paid = ok(api.post(f"/api/v1/dev/orders/{order['id']}/pay", headers=buyer))
        assert paid["status"] == "captured" and paid["amount_fen"] == 6000
        balance_url = f"/api/v1/leaders/{leader_id}/commission/balance"
        balance = until(lambda: ok(api.get(balance_url, headers=leader)), lambda b: b["pending_fen"] > 0, "accrual")
        assert balance["pending_fen"] == 600  # 10% of 6000 fen, accrued once however many workers and relays

        # Cut-off, the batch arrives, the leader hands the goods over.
        pickup_date = ok(api.get(f"/api/v1/orders/{order['id']}", headers=buyer))["pickup_date"]
        cutoff = ok(api.post("/api/v1/delivery-batches/cutoff", headers=ops, json={"pickup_date": pickup_date}))
        [batch] = [b for b in cutoff["batches"] if b["leader_id"] == leader_id]
        ok(api.post(f"/api/v1/delivery-batches/{batch['id']}/receive", headers=leader))
        code = ok(api.get(f"/api/v1/orders/{order['id']}", headers=buyer))["pickup_code"]
        picked = ok(api.post(f"/api/v1/orders/{order['id']}/pickup", headers=leader, json={"pickup_code": code}))
        assert picked["status"] == "picked_up"
        entries_url = "/api/v1/points/me/entries"
        earned = until(
            lambda: ok(api.get(entries_url, headers=buyer))["items"],
            lambda items: any(e["kind"] == "purchase" for e in items),
            "purchase points",
        )
        assert [e["points"] for e in earned if e["kind"] == "purchase"] == [60]  # 1 point per yuan paid

        # An after-sale request for one of the four: approved at once when small and soon, else by staff.
        asked = ok(
            api.post(
                f"/api/v1/orders/{order['id']}/after-sales",
                headers=buyer | {"Idempotency-Key": "scaled-after-sale"},
                json={"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "damaged"},
            ),
            201,
        )
        if asked["status"] != "approved":
            asked = ok(api.post(f"/api/v1/after-sales/{asked['id']}/approve", headers=ops, json={}))
        assert asked["status"] == "approved"
        balance = until(
            lambda: ok(api.get(balance_url, headers=leader)), lambda b: b["pending_fen"] < 600, "commission reversal"
        )
        assert balance["pending_fen"] == 450

        # Settlement by the operations CLI, against the same databases: the freeze (0 days here) has passed.
        groupbuy(scaled, "settle")
        balance = ok(api.get(balance_url, headers=leader))
        assert (balance["pending_fen"], balance["available_fen"]) == (0, 450), balance

        # A flash sale, its stock on Redis: one unit bought through the gateway, the second refused by the limit.
        now = datetime.now(UTC)
        sale = ok(
            api.post(
                "/api/v1/flash-sales",
                headers=ops,
                json={
                    "product_id": product["id"],
                    "price_fen": 100,
                    "stock": 5,
                    "per_user_limit": 1,
                    "starts_at": (now - timedelta(minutes=1)).isoformat(),
                    "ends_at": (now + timedelta(hours=1)).isoformat(),
                },
            ),
            201,
        )
        bought = ok(
            api.post(
                f"/api/v1/flash-sales/{sale['id']}/orders",
                headers=buyer | {"Idempotency-Key": "scaled-flash-1"},
                json={"leader_id": leader_id},
            ),
            201,
        )
        assert bought["payable_fen"] == 100
        again = api.post(
            f"/api/v1/flash-sales/{sale['id']}/orders",
            headers=buyer | {"Idempotency-Key": "scaled-flash-2"},
            json={"leader_id": leader_id},
        )
        assert again.status_code == 409 and again.json()["code"] == "FLASH_SALE_LIMIT_REACHED", again.text
        stock = ok(api.get(f"/api/v1/flash-sales/{sale['id']}/reconciliation", headers=ops))
        assert stock["consistent"] and stock["redis"] is not None, stock

        # The leader's statement for this month.
        period = datetime.now(SHANGHAI).strftime("%Y-%m")
        statement = ok(api.get(f"/api/v1/leaders/{leader_id}/commission/statements/{period}", headers=leader))
        assert (statement["accrued_fen"], statement["reversed_fen"], statement["settled_fen"]) == (600, 150, 450)
        assert statement["closing"]["available_fen"] == 450, statement

    # /metrics of each service adds up its two workers: the flow's flash sale, outbox, ledgers and upstream calls.
    scraped = {name: samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
               for name, port in scaled.ports.items()}  # fmt: skip
    orders = scraped["orders"]
    assert value(orders, "flash_sale_purchases_total", outcome="sold") >= 1
    assert value(orders, "flash_sale_purchases_total", outcome="limit") >= 1
    assert ("outbox_pending_events", frozenset({("service", "orders")})) in orders
    assert ("outbox_oldest_pending_age_seconds", frozenset({("service", "orders")})) in orders
    assert value(scraped["leaders"], "ledger_entries_written_total", ledger="commission", kind="accrual") >= 1
    assert value(scraped["points"], "ledger_entries_written_total", ledger="points", kind="purchase") >= 1
    assert value(scraped["gateway"], "gateway_upstream_duration_seconds_count", upstream="orders") >= 10
    assert value(orders, "http_request_duration_seconds_count", route="/api/v1/flash-sales/{sale_id}/orders") >= 2

    everything = scaled.processes()
    scaled.process.send_signal(signal.SIGTERM)
    assert scaled.process.wait(timeout=40) == 0, scaled.output()[-3000:]
    assert wait_gone(everything) == [], "orphans left behind"
    assert "stopped." in scaled.output()
