"""`make run`'s launcher for real: four processes on temporary ports with databases in a temporary directory.

It must bring the gateway up with every service's paths in /openapi.json, load the demo data, and stop without
leaving a process behind, whether it is stopped (Ctrl-C), a child dies, or the launcher itself is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.auth import issue_token
from services.common.migrate import SERVICES
from services.common.settings import ServiceSettings
from services.demo import DEMO_PRODUCTS
from services.gateway.routes import RouteTable
from services.launcher import SERVICE_URL_SETTINGS, child_environment

REPO = Path(__file__).resolve().parents[2]
READY_LINE = "Gateway ready:"
START_TIMEOUT = 25.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads child processes from /proc")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

    def start(*args: str) -> Launched:
        ports = {name: free_port() for name in (*SERVICES, "gateway")}
        # Databases from --var-dir only: a *_DATABASE_URL of the caller's environment must not be touched.
        env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
        env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
        env.update({"LEADERS_LOG_JSON": "false", "ORDERS_LOG_JSON": "false", "POINTS_LOG_JSON": "false"})
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

    # The demo data is there, readable with a token signed by the key every process shares.
    shared = ServiceSettings()
    token = issue_token("someone", ["customer"], secret=shared.jwt_secret, algorithm=shared.jwt_algorithm)
    listed = httpx.get(
        f"{launched.gateway}/api/v1/products", params={"limit": 200}, headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200
    assert {p["name"] for p in DEMO_PRODUCTS} <= {item["name"] for item in listed.json()["items"]}
    output = launched.output()
    demo = output.split("Demo data:", 1)[1].split("Demo tokens", 1)[0]
    assert "products          done" in demo and " failed " not in demo, demo
    assert f"{launched.gateway}/docs" in output and f"{launched.gateway}/redoc" in output
    assert "sub=demo-ops" in output and "sub=demo-customer" in output and "sub=demo-leader" in output

    launched.process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
    assert launched.process.wait(timeout=20) == 0
    assert wait_gone(list(children.values())) == []
    assert [name for name, port in launched.ports.items() if accepts_connections(port)] == []


def test_when_one_process_dies_the_launcher_stops_the_others_and_fails(launch: Any) -> None:
    launched: Launched = launch("--no-demo")
    launched.wait_ready()
    children = launched.children()
    os.kill(children["orders"], signal.SIGKILL)
    assert launched.process.wait(timeout=20) != 0
    assert wait_gone(list(children.values())) == []
    assert "orders exited" in launched.output()


def test_killing_the_launcher_outright_leaves_no_orphans(launch: Any) -> None:
    launched: Launched = launch("--no-demo")
    launched.wait_ready()
    children = launched.children()
    launched.process.kill()  # no chance to clean up: the kernel tells the children instead
    launched.process.wait(timeout=10)
    assert wait_gone(list(children.values())) == []


def test_every_process_is_told_where_the_launched_services_listen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_ORDERS_URL", "http://elsewhere:9999")
    monkeypatch.setenv("ORDERS_DATABASE_URL", "postgresql+asyncpg://db/orders")
    monkeypatch.delenv("LEADERS_DATABASE_URL", raising=False)
    monkeypatch.delenv("GATEWAY_DEV_AUTH", raising=False)
    env = child_environment(tmp_path, {"leaders": 7001, "orders": 7002, "points": 7003})
    for service, port in (("leaders", 7001), ("orders", 7002), ("points", 7003)):
        for name in SERVICE_URL_SETTINGS[service]:
            assert env[name] == f"http://127.0.0.1:{port}", name
    assert env["ORDERS_DATABASE_URL"] == "postgresql+asyncpg://db/orders"  # configured: left alone
    assert env["LEADERS_DATABASE_URL"] == f"sqlite+aiosqlite:///{tmp_path / 'leaders.db'}"
    assert env["GATEWAY_DEV_AUTH"] == "true"
