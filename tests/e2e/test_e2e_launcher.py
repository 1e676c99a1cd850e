"""`make run`'s launcher for real: four processes on temporary ports with databases in a temporary directory.

It must bring the gateway up with every service's paths in /openapi.json, load the demo data, and stop without
leaving a process behind, whether it is stopped (Ctrl-C), a child dies, or the launcher itself is killed.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.migrate import SERVICES
from services.common.testing import free_port
from services.demo import DEMO_PRODUCTS
from services.gateway.routes import RouteTable
from services.launcher import SERVICE_URL_SETTINGS, Child, PortTaken, Supervisor, child_environment

REPO = Path(__file__).resolve().parents[2]
READY_LINE = "Gateway ready:"
# A deadline, not a duration: start-up waits on the ready line, and on a loaded two-core machine the migrations,
# six processes and the demo data's Argon2 hashes can take well over half a minute.
START_TIMEOUT = 120.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads child processes from /proc")


@dataclass
class Launched:
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    log: Path
    seen_children: tuple[int, ...] = ()

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> dict[str, int]:
        """The launcher's child processes by name (leaders, orders, points, gateway)."""
        pid = self.process.pid
        found: dict[str, int] = {}
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            name = next((s for s in SERVICES if f"services.{s}.app" in cmdline), "gateway")
            found[name] = int(child)
        self.seen_children += tuple(found.values())
        return found

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while READY_LINE not in self.output():
            if self.process.poll() is not None:
                pytest.fail(f"the launcher exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"not ready within {START_TIMEOUT} s:\n{self.output()[-3000:]}")
            time.sleep(0.2)


def dev_token(gateway: str, sub: str, *roles: str) -> str:
    """A token from accounts' development login, through the gateway (as the banner says)."""
    answer = httpx.post(f"{gateway}/api/v1/auth/dev-token", json={"sub": sub, "roles": list(roles)}, timeout=10)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def banner_tokens(output: str) -> dict[str, str]:
    """The tokens the banner printed, by label (each on the line after its label's)."""
    section = output.split("Tokens (valid", 1)[1].split("More tokens", 1)[0].splitlines()[1:]
    tokens: dict[str, str] = {}
    for label_line, token_line in zip(section[::2], section[1::2], strict=False):
        if label_line.strip():
            label = label_line.strip().split("  ")[0].strip()
            tokens[label] = token_line.strip()
    return tokens


def is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie has stopped running; only its exit status is left to collect


def wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (alive := [pid for pid in pids if not is_gone(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def accepts_connections(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Any]:
    started: list[Launched] = []

    def start(*args: str, settings: dict[str, str] | None = None) -> Launched:
        ports = {name: free_port() for name in (*SERVICES, "gateway")}
        # Databases from --var-dir only: a *_DATABASE_URL of the caller's environment must not be touched.
        env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
        env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
        env.update({"LEADERS_LOG_JSON": "false", "ORDERS_LOG_JSON": "false", "POINTS_LOG_JSON": "false"})
        env.update(settings or {})
        log = tmp_path / f"launcher-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.launcher", "--var-dir", str(tmp_path / "var"), *args],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        launched = Launched(process, ports, log)
        started.append(launched)
        return launched

    yield start
    for launched in started:
        # Shown by pytest only when the test failed: what the launcher and its children said.
        print(f"--- {launched.log.name} ---\n{launched.output()[-6000:]}")
    for launched in started:  # a failed test must not leave its processes running either
        if launched.process.poll() is None:
            launched.process.kill()
            launched.process.wait(timeout=10)
        for pid in launched.seen_children:
            with contextlib.suppress(OSError):  # gone meanwhile; and never a reused pid that is not ours
                if not is_gone(pid) and Path(f"/proc/{pid}/cwd").resolve() == REPO:
                    os.kill(pid, signal.SIGKILL)


def test_the_launcher_serves_every_service_behind_the_gateway_and_stops_cleanly(launch: Any) -> None:
    launched: Launched = launch("--migrate")
    launched.wait_ready()
    children = launched.children()
    assert sorted(children) == sorted([*SERVICES, "gateway"])
    # Once up, the banner is the last thing on screen (nothing logged after it while nobody calls).
    at_ready = launched.output()
    banner_last = at_ready.rstrip().endswith("Stop with Ctrl-C.")

    document = httpx.get(f"{launched.gateway}/openapi.json", timeout=10).json()
    assert not document.get("x-missing-services")
    routes = RouteTable()
    for service in SERVICES:
        own = httpx.get(f"http://127.0.0.1:{launched.ports[service]}/openapi.json", timeout=10).json()
        public = {path for path in own["paths"] if routes.match(path) == service}
        assert public <= set(document["paths"]), f"{service}: {sorted(public - set(document['paths']))}"
    assert "/api/v1/products" in document["paths"]

    docs = httpx.get(f"{launched.gateway}/docs", timeout=10)
    assert docs.status_code == 200 and "/static/docs/swagger-ui-bundle.js" in docs.text
    assert httpx.get(f"{launched.gateway}/static/docs/swagger-ui-bundle.js", timeout=10).status_code == 200

    # The demo data is there, readable with a token from accounts' development login.
    token = dev_token(launched.gateway, "someone", "customer")
    listed = httpx.get(
        f"{launched.gateway}/api/v1/products", params={"limit": 200}, headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200
    assert {p["name"] for p in DEMO_PRODUCTS} <= {item["name"] for item in listed.json()["items"]}
    output = launched.output()
    demo = output.split("Demo data:", 1)[1].split("Tokens (valid", 1)[0]
    assert "products          done" in demo and " failed " not in demo, demo
    assert "group-buy" in demo and "阳光玫瑰葡萄 with 2 SKUs" in demo, demo
    assert f"{launched.gateway}/docs" in output and f"{launched.gateway}/redoc" in output
    assert "staff demo.admin" in output and "sub=demo-customer" in output and "sub=demo-leader" in output
    assert "staff             done" in demo, demo
    tokens = banner_tokens(output)
    assert list(tokens) == ["customer", "leader", "ops admin", "finance", "manager"]
    me = httpx.get(f"{launched.gateway}/api/v1/leaders/me", headers={"Authorization": f"Bearer {tokens['leader']}"})
    assert me.status_code == 200 and me.json()["manager"]["display_name"] == "Demo manager"
    managed = httpx.get(
        f"{launched.gateway}/api/v1/leaders",
        params={"manager_id": "me"},
        headers={"Authorization": f"Bearer {tokens['manager']}"},
    )
    assert [leader["leader_id"] for leader in managed.json()["items"]] == ["demo-leader"]
    finance = {"Authorization": f"Bearer {tokens['finance']}"}
    assert httpx.get(f"{launched.gateway}/api/v1/withdrawals", headers=finance).status_code == 200
    price = httpx.post(f"{launched.gateway}/api/v1/products", headers=finance, json={"name": "x", "price_fen": 1})
    assert price.status_code == 403 and price.json()["code"] == "MISSING_PERMISSION"

    # Quiet, readable logs: plain text, and no line per request (the requests above logged nothing).
    output = launched.output()
    assert "services.access" not in output and not any(line.startswith("{") for line in output.splitlines())
    assert banner_last, at_ready[-2000:]

    launched.process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
    assert launched.process.wait(timeout=20) == 0
    assert wait_gone(list(children.values())) == []
    assert [name for name, port in launched.ports.items() if accepts_connections(port)] == []


def test_a_service_that_dies_is_restarted_and_the_rest_keeps_serving(launch: Any) -> None:
    launched: Launched = launch("--no-demo")
    launched.wait_ready()
    children = launched.children()
    os.kill(children["orders"], signal.SIGKILL)
    assert wait_gone([children["orders"]]) == []
    # The others never stopped: leaders answers through the gateway while orders is down.
    assert httpx.get(f"http://127.0.0.1:{launched.ports['leaders']}/healthz", timeout=5).status_code == 200
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        restarted = launched.children().get("orders")
        if restarted not in (None, children["orders"]):
            try:
                if httpx.get(f"http://127.0.0.1:{launched.ports['orders']}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
        assert time.monotonic() < deadline, launched.output()[-3000:]
        assert launched.process.poll() is None, launched.output()[-3000:]
        time.sleep(0.2)
    output = launched.output()
    assert "orders exited with code -9: restarting in 1 s" in output
    assert "orders restarted" in output
    assert httpx.get(f"{launched.gateway}/api/v1/products", timeout=5).status_code in (200, 401)
    launched.process.send_signal(signal.SIGINT)
    assert launched.process.wait(timeout=20) == 0


def test_killing_the_launcher_outright_leaves_no_orphans(launch: Any) -> None:
    launched: Launched = launch("--no-demo")
    launched.wait_ready()
    children = launched.children()
    launched.process.kill()  # no chance to clean up: the kernel tells the children instead
    launched.process.wait(timeout=10)
    assert wait_gone(list(children.values())) == []


def test_a_port_answered_by_another_process_stops_the_start_with_a_clear_error() -> None:
    """A port held by someone else: the child will die on its bind, but until then its health URL answers 200."""
    answering = {"status": "ok", "service": "points"}

    class Impostor(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(answering).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
    child = Child(name="orders", command=[sys.executable, "-c", "import time; time.sleep(30)"], health_url=url)
    supervisor = Supervisor([child], os.environ)
    try:
        supervisor.start(child)
        with pytest.raises(PortTaken, match="answered by the points service, not by orders"):
            supervisor.wait_healthy(child, timeout=10)
        answering.pop("service")  # a program that is none of ours
        with pytest.raises(PortTaken, match="answered by another program"):
            supervisor.wait_healthy(child, timeout=10)
        answering["service"] = "orders"
        supervisor.wait_healthy(child, timeout=10)
    finally:
        supervisor.stop_all(grace=1)
        server.shutdown()


def test_every_process_is_told_where_the_launched_services_listen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_ORDERS_URL", "http://elsewhere:9999")
    monkeypatch.setenv("ORDERS_DATABASE_URL", "postgresql+asyncpg://db/orders")
    monkeypatch.delenv("LEADERS_DATABASE_URL", raising=False)
    monkeypatch.delenv("ACCOUNTS_DEV_AUTH", raising=False)
    ports = {"accounts": 7004, "leaders": 7001, "orders": 7002, "points": 7003}
    env = child_environment(tmp_path, ports)
    for service, port in ports.items():
        for name in SERVICE_URL_SETTINGS[service]:
            assert env[name] == f"http://127.0.0.1:{port}", name
    assert env["ORDERS_DATABASE_URL"] == "postgresql+asyncpg://db/orders"  # configured: left alone
    assert env["LEADERS_DATABASE_URL"] == f"sqlite+aiosqlite:///{tmp_path / 'leaders.db'}"
    assert env["ACCOUNTS_DEV_AUTH"] == "true"
    # Every process verifies with the keys accounts generates and publishes; accounts asks each service's export.
    assert env["AUTH_JWKS_URL"] == "http://127.0.0.1:7004/.well-known/jwks.json"
    assert env["ACCOUNTS_SIGNING_KEYS_DIR"] == str(tmp_path / "keys")
    assert json.loads(env["ACCOUNTS_EXPORT_SOURCES"]) == {
        "leaders": "http://127.0.0.1:7001",
        "orders": "http://127.0.0.1:7002",
        "points": "http://127.0.0.1:7003",
    }


def test_an_order_paid_picked_up_and_partly_refunded_reaches_leaders_and_points_within_seconds(launch: Any) -> None:
    """Issue 6's acceptance with the services as separate processes: no manual step between them, only the
    relays running inside each service and the HTTP bus."""
    import hashlib
    import hmac

    from services.demo import LEADER_SUB
    from services.orders.config import Settings as OrdersSettings

    launched: Launched = launch("--migrate")
    launched.wait_ready()

    def auth(sub: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {dev_token(launched.gateway, sub, *roles)}"}

    ops, buyer, leader = auth("e2e-ops", "ops"), auth("e2e-buyer", "customer"), auth(LEADER_SUB, "leader")

    def until(read: Any, done: Any, seconds: float = 10.0) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            value = read()
            if done(value) or time.monotonic() > deadline:
                return value
            time.sleep(0.2)

    with httpx.Client(base_url=launched.gateway, timeout=10) as api:
        rule = api.post(
            "/api/v1/commission/rules", headers=ops, json={"scope": "default", "mode": "percentage", "rate_bp": 1000}
        )
        assert rule.status_code == 201, rule.text
        product = api.post("/api/v1/products", headers=ops, json={"name": "Pears 1kg", "price_fen": 1500, "stock": 9})
        assert product.status_code == 201, product.text
        order = api.post(
            "/api/v1/orders",
            headers=buyer | {"Idempotency-Key": "launcher-life"},
            json={"leader_id": LEADER_SUB, "lines": [{"product_id": product.json()["id"], "quantity": 2}]},
        ).json()
        raw = json.dumps({"order_id": order["id"], "transaction_id": "tx-l1", "amount_fen": order["payable_fen"]})
        secret = OrdersSettings().payment_secret.encode()
        paid = api.post(
            "/api/v1/payments/notify",
            content=raw,
            headers={
                "X-Payment-Signature": hmac.new(secret, raw.encode(), hashlib.sha256).hexdigest(),
                "Content-Type": "application/json",
            },
        )
        assert paid.status_code in (200, 201), paid.text

        balance_url = f"/api/v1/leaders/{LEADER_SUB}/commission/balance"
        balance = until(lambda: api.get(balance_url, headers=leader).json(), lambda b: b["pending_fen"] > 0)
        assert balance["pending_fen"] == 300  # 10% of 3000 fen

        assert api.post(f"/api/v1/orders/{order['id']}/arrive", headers=ops).status_code == 200
        code = api.get(f"/api/v1/orders/{order['id']}", headers=buyer).json()["pickup_code"]
        picked = api.post(f"/api/v1/orders/{order['id']}/pickup", headers=leader, json={"pickup_code": code})
        assert picked.status_code == 200, picked.text
        points = until(
            lambda: api.get("/api/v1/points/me/entries", headers=buyer).json()["items"],
            lambda items: any(e["kind"] == "purchase" for e in items),
        )
        assert [e["points"] for e in points if e["kind"] == "purchase"] == [30]  # 1 point per yuan paid

        line = order["lines"][0]
        asked = api.post(
            f"/api/v1/orders/{order['id']}/after-sales",
            headers=buyer | {"Idempotency-Key": "launcher-refund"},
            json={"lines": [{"line_id": line["id"], "quantity": 1}], "reason": "damaged"},
        )
        assert asked.status_code == 201 and asked.json()["status"] == "approved", asked.text  # small, just picked up
        balance = until(lambda: api.get(balance_url, headers=leader).json(), lambda b: b["pending_fen"] < 300)
        assert balance["pending_fen"] == 150
        period = time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600))  # Asia/Shanghai month
        statement = api.get(f"/api/v1/leaders/{LEADER_SUB}/commission/statements/{period}", headers=leader).json()
        assert statement["accrued_fen"] == 300 and statement["reversed_fen"] == 150
        points = until(
            lambda: api.get("/api/v1/points/me/entries", headers=buyer).json()["items"],
            lambda items: any(e["kind"] == "purchase_reversal" for e in items),
        )
        assert [e["points"] for e in points if e["kind"] == "purchase_reversal"] in ([-15], [15])

    launched.process.send_signal(signal.SIGINT)
    assert launched.process.wait(timeout=20) == 0


def test_restarts_wait_longer_after_each_crash_in_a_row_and_start_over_after_a_stable_run() -> None:
    child = Child(name="crasher", command=[sys.executable, "-c", "raise SystemExit(3)"], health_url="unused")
    supervisor = Supervisor([child], os.environ)

    def crash_and_report(now: float) -> list[str]:
        assert child.process is not None
        child.process.wait(timeout=10)
        return supervisor.restart_dead(now=now)

    supervisor.start(child)
    t = child.started_at
    assert crash_and_report(t + 1) == ["crasher exited with code 3: restarting in 1 s (crash 1)"]
    assert supervisor.restart_dead(now=t + 1.5) == []  # still pausing
    assert supervisor.restart_dead(now=t + 2)[0].startswith("crasher restarted")
    assert crash_and_report(child.started_at + 1) == ["crasher exited with code 3: restarting in 2 s (crash 2)"]
    assert supervisor.restart_dead(now=child.started_at + 10)[0].startswith("crasher restarted")
    assert crash_and_report(child.started_at + 1) == ["crasher exited with code 3: restarting in 4 s (crash 3)"]
    supervisor.restart_dead(now=child.started_at + 100)
    # This run lasted over a minute before it crashed: the pause starts from 1 s again.
    assert crash_and_report(child.started_at + 61) == ["crasher exited with code 3: restarting in 1 s (crash 1)"]
    supervisor.stop_all(grace=1)
