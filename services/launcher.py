"""`python -m services.launcher` (what `make run` starts): the four services and the gateway as separate processes.

Each service runs under uvicorn on its own port (ACCOUNTS_PORT, LEADERS_PORT, ORDERS_PORT, POINTS_PORT: 8004,
8001-8003), the gateway on GATEWAY_PORT (8000). Accounts starts first: it generates its development signing key
under the var directory and publishes it (JWKS), which every other process verifies tokens with; its development
login is on unless ACCOUNTS_DEV_AUTH says otherwise. The launcher waits for every /healthz, loads the demo data
through the gateway, prints the URLs and tokens for a customer, a leader, an ops admin, a finance user and a
manager, then watches its children. Its children log plain text, warnings and errors only (`<SERVICE>_LOG_LEVEL`,
`<SERVICE>_LOG_JSON` change that), so the banner is the last thing on the screen until something needs attention.

Stopping: Ctrl-C or SIGTERM stops every child (its whole process group: SIGTERM, then SIGKILL after a grace
period). A child that dies once the system is up is restarted, after a pause that doubles with each crash in a row
(1 s up to 30 s; a child that stayed up for a minute starts again from 1 s), and the launcher says so: one crashed
service must not take the whole system down. A child that dies during start-up stops the start (a port taken or a
broken setting would only crash again). Children also get SIGTERM from the kernel if the launcher itself is killed
(Linux), so even `kill -9` of the launcher leaves no orphans.

    --var-dir DIR   keep the SQLite databases in DIR instead of var/ (ignored for a service whose
                    <SERVICE>_DATABASE_URL is set)
    --migrate       apply every service's migrations first (`make run` does this as its own step)
    --no-demo       do not load the demo data
    --scaled        the production shape on this machine (`make run-scaled`): every service with SCALED_WORKERS
                    worker processes on its own PostgreSQL database, flash-sale stock on Redis, events on NATS
                    JetStream, each outbox relay as its own process, the gateway with SCALED_WORKERS workers. The
                    servers come from SCALED_POSTGRES_URL (an admin URL; the databases <SCALED_DATABASE_PREFIX>
                    <service> are created when missing), SCALED_REDIS_URL and SCALED_NATS_URL; one that does not
                    answer stops the start with a line naming it. SCALED_ORDERS_WORKERS (default SCALED_WORKERS)
                    sets the orders service's workers alone: the flash-sale burst compares one and two.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.jwks import JWKS_PATH
from services.common.settings import PROJECT_ROOT
from services.gateway.config import GatewaySettings

# Accounts first: it signs the tokens the others verify. Analytics before the producers: HTTP push delivers an
# event only once every subscriber took it.
SERVICES = ("accounts", "analytics", "leaders", "orders", "points")
HOST = "127.0.0.1"  # the services are internal: only the gateway is meant to be reached from outside
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2
#: Restart pauses: doubled per crash in a row, from the first to the cap; reset once a child stayed up this long.
RESTART_FIRST_DELAY_SECONDS = 1.0
RESTART_MAX_DELAY_SECONDS = 30.0
RESTART_STABLE_SECONDS = 60.0
#: `make run` is read by a person at a terminal: plain-text logs, warnings and errors only. A line per request (and
#: per periodic job's call between services) would bury the banner and anything that needs attention; set
#: `<SERVICE>_LOG_LEVEL=INFO` (or `GATEWAY_LOG_LEVEL`) to see them. Outside the launcher JSON at INFO stays the default.
DEV_LOG_LEVEL = "WARNING"
#: Under `make run` access tokens (and the banner's) last an hour, the longest every verifier accepts by default
#: (AUTH_MAX_TOKEN_LIFETIME_SECONDS); outside it accounts issues 15-minute tokens.
DEV_TOKEN_TTL_SECONDS = 3600


#: The settings (environment variables) that tell one process where a service listens; a setting a process does
#: not know is ignored by it.
SERVICE_URL_SETTINGS: Mapping[str, tuple[str, ...]] = {
    "accounts": (
        "EVENTS_ACCOUNTS_URL",
        "AUTH_ACCOUNTS_URL",
        "GATEWAY_ACCOUNTS_URL",
        "ORDERS_ACCOUNTS_URL",
        "LEADERS_ACCOUNTS_URL",
    ),
    "analytics": ("GATEWAY_ANALYTICS_URL", "EVENTS_ANALYTICS_URL"),
    "leaders": ("GATEWAY_LEADERS_URL", "EVENTS_LEADERS_URL", "ORDERS_LEADERS_URL", "ANALYTICS_LEADERS_URL"),
    "orders": ("GATEWAY_ORDERS_URL", "EVENTS_ORDERS_URL", "ANALYTICS_ORDERS_URL"),
    "points": ("GATEWAY_POINTS_URL", "EVENTS_POINTS_URL", "ORDERS_POINTS_URL", "ANALYTICS_POINTS_URL"),
}


class Stop(Exception):
    """Raised in the main loop when SIGINT/SIGTERM arrives, so start-up waits are interrupted too."""


class ChildDied(Exception):
    def __init__(self, name: str, returncode: int) -> None:
        super().__init__(f"{name} exited with code {returncode}")
        self.name = name
        self.returncode = returncode


class PortTaken(OSError):
    def __init__(self, name: str, url: str, answering: str | None) -> None:
        who = f"the {answering} service" if answering else "another program"
        super().__init__(f"{url} is answered by {who}, not by {name}: is another process using its port?")


def _answering_service(answer: httpx.Response) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    name = body.get("service") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


@dataclass
class Child:
    name: str
    command: list[str]
    #: None for a process that serves nothing (an outbox relay): it is up when it runs.
    health_url: str | None
    process: subprocess.Popen[bytes] | None = None
    #: Settings of this child only (its own metrics directory), over the environment every child gets.
    env: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0
    #: Crashes in a row (reset once the child stayed up for RESTART_STABLE_SECONDS) and when to start it again.
    crashes: int = 0
    restart_at: float | None = None


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel for SIGTERM when the launcher goes away (Linux only)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def service_port(service: str) -> int:
    settings = importlib.import_module(f"services.{service}.config").get_settings()
    return int(settings.port)


def child_environment(var_dir: Path | None, ports: Mapping[str, int]) -> dict[str, str]:
    """The environment every child gets: the launcher's, plus where the gateway finds the services."""
    env = dict(os.environ)
    env.setdefault("ACCOUNTS_DEV_AUTH", "true")
    env.setdefault("ORDERS_DEV_PAYMENTS", "true")
    env.setdefault("ACCOUNTS_ACCESS_TOKEN_TTL_SECONDS", str(DEV_TOKEN_TTL_SECONDS))
    env.setdefault("ACCOUNTS_DEV_TOKEN_TTL_SECONDS", str(DEV_TOKEN_TTL_SECONDS))
    for name in (*SERVICES, "gateway"):
        env.setdefault(f"{name.upper()}_LOG_JSON", "false")
        env.setdefault(f"{name.upper()}_LOG_LEVEL", DEV_LOG_LEVEL)
    # Every process must reach the services where the launcher put them, whatever else was configured.
    for service, port in ports.items():
        for name in SERVICE_URL_SETTINGS[service]:
            env[name] = f"http://{HOST}:{port}"
    if "accounts" in ports:
        env["AUTH_JWKS_URL"] = f"http://{HOST}:{ports['accounts']}{JWKS_PATH}"
        exports = {service: f"http://{HOST}:{port}" for service, port in ports.items() if service != "accounts"}
        env["ACCOUNTS_EXPORT_SOURCES"] = json.dumps(exports, sort_keys=True)
    if var_dir is not None:
        env.setdefault("ACCOUNTS_SIGNING_KEYS_DIR", str(var_dir / "keys"))
        for service in SERVICES:
            env.setdefault(f"{service.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{var_dir / (service + '.db')}")
    return env


def _uvicorn_log_level(service: str) -> tuple[str, str]:
    """uvicorn's own lines (started, shutting down) at the service's level, so a quiet `make run` is quiet."""
    return ("--log-level", os.environ.get(f"{service.upper()}_LOG_LEVEL", "info").lower())


def build_children(ports: Mapping[str, int], gateway: GatewaySettings) -> list[Child]:
    children = [
        Child(
            name=service,
            # No uvicorn access log: each service logs one structured line per request itself, with the request id.
            command=[
                *(sys.executable, "-m", "uvicorn", "--factory", f"services.{service}.app:create_app"),
                *("--host", HOST, "--port", str(ports[service]), "--no-access-log"),
                *_uvicorn_log_level(service),
            ],
            health_url=f"http://{HOST}:{ports[service]}/healthz",
        )
        for service in SERVICES
    ]
    gateway_host = "127.0.0.1" if gateway.host in ("0.0.0.0", "::") else gateway.host  # noqa: S104 - compared, not bound
    children.append(
        Child(
            name="gateway",
            command=[sys.executable, "-m", "services.gateway"],
            health_url=f"http://{gateway_host}:{gateway.port}/healthz",
        )
    )
    return children


@dataclass(frozen=True)
class ScaledServers:
    """Where `--scaled` runs: the servers of this machine (or any), from settings."""

    postgres_admin_url: str
    redis_url: str
    nats_url: str
    database_prefix: str
    workers: int
    nats_stream: str
    #: The flash sale's service may run with its own count (bench/burst compares one and two workers).
    orders_workers: int

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> ScaledServers:
        return cls(
            postgres_admin_url=env.get("SCALED_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
            redis_url=env.get("SCALED_REDIS_URL", "redis://127.0.0.1:6379/0"),
            nats_url=env.get("SCALED_NATS_URL", "nats://127.0.0.1:4222"),
            database_prefix=env.get("SCALED_DATABASE_PREFIX", "groupbuy_"),
            workers=int(env.get("SCALED_WORKERS", "2")),
            nats_stream=env.get("SCALED_NATS_STREAM", "GROUPBUY"),
            orders_workers=int(env.get("SCALED_ORDERS_WORKERS") or env.get("SCALED_WORKERS", "2")),
        )

    def workers_of(self, service: str) -> int:
        return self.orders_workers if service == "orders" else self.workers

    def database_url(self, service: str) -> str:
        admin = make_url(self.postgres_admin_url)
        return admin.set(database=f"{self.database_prefix}{service}").render_as_string(hide_password=False)


class ServerUnreachable(OSError):
    def __init__(self, what: str, setting: str, url: str, error: OSError) -> None:
        host, port = _host_port(url)
        super().__init__(f"{what} at {host}:{port} ({setting}) is not reachable: {error.strerror or error}")


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url.replace("+asyncpg", ""))
    default = {"postgresql": 5432, "redis": 6379, "nats": 4222}.get(parts.scheme, 0)
    return parts.hostname or "127.0.0.1", parts.port or default


def check_reachable(servers: ScaledServers) -> None:
    """A TCP connection to each server, or a clear error naming the first that does not answer."""
    for what, setting, url in (
        ("PostgreSQL", "SCALED_POSTGRES_URL", servers.postgres_admin_url),
        ("Redis", "SCALED_REDIS_URL", servers.redis_url),
        ("NATS", "SCALED_NATS_URL", servers.nats_url),
    ):
        try:
            socket.create_connection(_host_port(url), timeout=2).close()
        except OSError as error:
            raise ServerUnreachable(what, setting, url, error) from None


def create_databases(servers: ScaledServers) -> None:
    """Each service's own database, created when missing (the migrations then bring it up to date)."""

    async def create() -> None:
        engine = create_async_engine(servers.postgres_admin_url, isolation_level="AUTOCOMMIT", hide_parameters=True)
        try:
            async with engine.connect() as conn:
                for service in SERVICES:
                    name = f"{servers.database_prefix}{service}"
                    exists = await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
                    if exists.scalar() is None:
                        await conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await engine.dispose()

    asyncio.run(create())


def scaled_environment(env: Mapping[str, str], servers: ScaledServers) -> dict[str, str]:
    """What every child gets in the scaled shape, over the usual environment."""
    scaled = dict(env)
    for service in SERVICES:
        scaled[f"{service.upper()}_DATABASE_URL"] = servers.database_url(service)
    scaled["ORDERS_REDIS_URL"] = servers.redis_url
    scaled["EVENTS_NATS_URL"] = servers.nats_url
    scaled["EVENTS_NATS_STREAM"] = servers.nats_stream
    scaled["EVENTS_RELAY_IN_PROCESS"] = "false"  # each relay is a process of its own
    scaled["GATEWAY_WORKERS"] = str(servers.workers)
    # Several gateway workers: counted in Redis, a rate limit holds for all of them together, not per worker.
    scaled.setdefault("GATEWAY_RATE_LIMIT_STORAGE_URL", servers.redis_url)
    return scaled


def build_scaled_children(
    ports: Mapping[str, int], gateway: GatewaySettings, servers: ScaledServers, metrics_dir: Path
) -> list[Child]:
    """The services with several workers, one relay process per service, and the gateway (its workers from
    GATEWAY_WORKERS). Each service's workers share a metrics directory of their own, so /metrics adds up that
    service's workers and no other's."""
    children: list[Child] = []
    for service in SERVICES:
        own_metrics = metrics_dir / service
        own_metrics.mkdir(parents=True, exist_ok=True)
        children.append(
            Child(
                name=service,
                command=[
                    *(sys.executable, "-m", "uvicorn", "--factory", f"services.{service}.app:create_app"),
                    *("--host", HOST, "--port", str(ports[service]), "--no-access-log"),
                    *("--workers", str(servers.workers_of(service))),
                    *_uvicorn_log_level(service),
                ],
                health_url=f"http://{HOST}:{ports[service]}/healthz",
                env={"PROMETHEUS_MULTIPROC_DIR": str(own_metrics)},
            )
        )
    for service in SERVICES:
        children.append(
            Child(
                name=f"{service}-relay",
                command=[sys.executable, "-m", "services.common.events.relay", service],
                health_url=None,
            )
        )
    gateway_metrics = metrics_dir / "gateway"
    gateway_metrics.mkdir(parents=True, exist_ok=True)
    gateway_child = build_children(ports, gateway)[-1]
    gateway_child.env = {"PROMETHEUS_MULTIPROC_DIR": str(gateway_metrics)}
    children.append(gateway_child)
    return children


class Supervisor:
    def __init__(self, children: list[Child], env: Mapping[str, str]) -> None:
        self.children = children
        self.env = dict(env)

    def start(self, child: Child) -> None:
        # A session (process group) of its own: a terminal's Ctrl-C reaches only the launcher, which then stops
        # each child's whole group, including anything the child started.
        child.process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            child.command,
            cwd=PROJECT_ROOT,
            env={**self.env, **child.env},
            start_new_session=True,
            preexec_fn=_die_with_parent,  # safe here: the launcher is single-threaded
        )
        child.started_at = time.monotonic()
        child.restart_at = None

    def restart_dead(self, now: float | None = None) -> list[str]:
        """Once the system is up: schedule a restart for each child that died, start those whose pause is over.
        Returns what happened, one line each, for the launcher to print."""
        now = time.monotonic() if now is None else now
        said: list[str] = []
        for child in self.children:
            process = child.process
            if process is None or (code := process.poll()) is None:
                continue
            if child.restart_at is None:
                if now - child.started_at >= RESTART_STABLE_SECONDS:
                    child.crashes = 0
                child.crashes += 1
                delay = min(RESTART_MAX_DELAY_SECONDS, RESTART_FIRST_DELAY_SECONDS * 2 ** (child.crashes - 1))
                child.restart_at = now + delay
                _signal_group(process, signal.SIGKILL)  # whatever it started goes with it
                said.append(
                    f"{child.name} exited with code {code}: restarting in {delay:.0f} s (crash {child.crashes})"
                )
            elif now >= child.restart_at:
                self.start(child)
                said.append(f"{child.name} restarted (pid {child.process.pid if child.process else '?'})")
        return said

    def check_alive(self) -> None:
        for child in self.children:
            if child.process is not None and (code := child.process.poll()) is not None:
                raise ChildDied(child.name, code)

    def wait_healthy(self, child: Child, timeout: float = START_TIMEOUT_SECONDS) -> None:
        if child.health_url is None:
            self.check_alive()
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                answer = httpx.get(child.health_url, timeout=1.0)
            except httpx.TransportError:
                pass
            else:
                if answer.status_code == 200:
                    # Another process may hold the port (a `make run` still running, say): then the child will
                    # die on its bind, but its health URL answers all the same. Only our child's own name counts.
                    name = _answering_service(answer)
                    if name == child.name:
                        return
                    raise PortTaken(child.name, child.health_url, name)
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"{child.name} did not answer {child.health_url} within {timeout:.0f} s")

    def stop_all(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM every child's process group, wait, then SIGKILL what is left. Safe to call twice."""
        running = [c.process for c in self.children if c.process is not None]
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for process in running:
            # The group too: a child that exited may have left a process of its own behind.
            _signal_group(process, signal.SIGKILL)
            if process.poll() is None:
                process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)  # the group id is the child's pid (start_new_session)


_BANNER_LABELS = ("customer", "leader", "ops admin", "finance", "manager")


def print_banner(gateway_url: str, tokens: Mapping[str, str], demo_report: list[str]) -> None:
    from services.demo import BANNER_IDENTITIES, DEMO_STAFF

    staff = {s.label: s for s in DEMO_STAFF}
    lines = [
        "",
        f"Gateway ready: {gateway_url}",
        f"  Swagger UI   {gateway_url}/docs",
        f"  ReDoc        {gateway_url}/redoc",
        f"  OpenAPI      {gateway_url}/openapi.json",
        "",
        "Demo data:",
        *(f"  {line}" for line in demo_report),
        "",
        f"Tokens (valid {DEV_TOKEN_TTL_SECONDS // 60} minutes; send as 'Authorization: Bearer <token>'):",
    ]
    for label, sub, roles in BANNER_IDENTITIES:
        who = f"staff {staff[label].username} / {staff[label].password}" if label in staff else f"sub={sub}"
        lines.append(f"  {label:10} {who} roles={','.join(roles)}")
        lines.append(f"             {tokens[label]}")
    lines += [
        "",
        "More tokens (through the gateway, all signed by the accounts service):",
        f"  curl -X POST {gateway_url}/api/v1/auth/wechat -H 'Content-Type: application/json' "
        '-d \'{"code": "any code"}\'',
        f"  curl -X POST {gateway_url}/api/v1/auth/staff -H 'Content-Type: application/json' "
        '-d \'{"username": "demo.admin", "password": "demo-admin-password"}\'',
        f"  curl -X POST {gateway_url}/api/v1/auth/dev-token -H 'Content-Type: application/json' "
        '-d \'{"sub": "u1", "roles": ["customer"]}\'',
        "",
        f"Try: curl -H 'Authorization: Bearer {tokens['customer']}' {gateway_url}/api/v1/products",
        "Stop with Ctrl-C.",
        "",
    ]
    print("\n".join(lines), flush=True)


def run_migrations(env: Mapping[str, str]) -> None:
    command = [sys.executable, "-m", "services.common.migrate", "upgrade", "all"]
    subprocess.run(command, cwd=PROJECT_ROOT, env=dict(env), check=True)  # noqa: S603 - fixed command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--var-dir", type=Path, default=None, help="directory for the SQLite databases")
    parser.add_argument("--migrate", action="store_true", help="apply every service's migrations first")
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo data")
    parser.add_argument("--scaled", action="store_true", help="PostgreSQL, Redis, NATS, several workers per service")
    args = parser.parse_args(argv)

    var_dir: Path | None = args.var_dir.resolve() if args.var_dir else None
    if var_dir is not None:
        var_dir.mkdir(parents=True, exist_ok=True)
    ports = {service: service_port(service) for service in SERVICES}
    env = child_environment(var_dir, ports)
    servers: ScaledServers | None = None
    if args.scaled:
        servers = ScaledServers.from_environment(env)
        try:
            check_reachable(servers)
            create_databases(servers)
        except OSError as error:
            print(f"start-up failed: {error}", file=sys.stderr, flush=True)
            return 1
        env = scaled_environment(env, servers)
    # Read the gateway's settings as the gateway will (same environment).
    os.environ.update(env)
    gateway_settings = GatewaySettings()
    if args.migrate or args.scaled:
        run_migrations(env)

    if servers is not None:
        metrics_dir = Path(tempfile.mkdtemp(prefix="groupbuy-metrics-"))
        children = build_scaled_children(ports, gateway_settings, servers, metrics_dir)
    else:
        children = build_children(ports, gateway_settings)
    supervisor = Supervisor(children, env)

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        raise Stop(signal.Signals(signum).name)

    stop_signals = (signal.SIGINT, signal.SIGTERM)
    for signum in stop_signals:
        signal.signal(signum, request_stop)
    exit_code = 0
    try:
        for child in supervisor.children:
            supervisor.start(child)
        for child in supervisor.children:
            supervisor.wait_healthy(child)
        gateway_health = supervisor.children[-1].health_url
        assert gateway_health is not None
        gateway_url = gateway_health.removesuffix("/healthz")
        demo_report, tokens = _load_demo(gateway_url, load=not args.no_demo)
        print_banner(gateway_url, tokens, demo_report)
        while True:
            for line in supervisor.restart_dead():
                print(line, file=sys.stderr, flush=True)
            time.sleep(POLL_SECONDS)
    except Stop as stop:
        print(f"\n{stop}: stopping every process...", file=sys.stderr, flush=True)
    except ChildDied as died:
        print(f"\n{died}: stopping the others.", file=sys.stderr, flush=True)
        exit_code = died.returncode if died.returncode > 0 else 1  # killed by a signal: negative code
    except (TimeoutError, OSError) as error:
        print(f"\nstart-up failed: {error}", file=sys.stderr, flush=True)
        exit_code = 1
    finally:
        # A second Ctrl-C while stopping must not leave children behind: ignore it until everything is down.
        for signum in stop_signals:
            signal.signal(signum, signal.SIG_IGN)
        supervisor.stop_all()
    print("stopped.", file=sys.stderr, flush=True)
    return exit_code


def _load_demo(gateway_url: str, *, load: bool) -> tuple[list[str], dict[str, str]]:
    """The demo report and the banner's tokens (from accounts, through the gateway)."""
    # Imported here: the demo module is only needed once everything is up.
    from services.demo import DemoContext, StepFailed, banner_tokens, format_report, seed

    with httpx.Client(base_url=gateway_url, timeout=10.0) as client:
        ctx = DemoContext(client=client)
        report = ["skipped (--no-demo)"]
        if load:
            try:
                report = format_report(seed(ctx))
            except (httpx.HTTPError, StepFailed) as error:
                # The system is up and usable without demo data; say what went wrong and keep serving.
                report = [f"failed: {error!r}"]
        try:
            return report, banner_tokens(ctx)
        except (httpx.HTTPError, StepFailed) as error:
            # Without dev login (ACCOUNTS_DEV_AUTH=false) there is nothing to print: sign in instead.
            return report, dict.fromkeys(_BANNER_LABELS, f"(no token: {error})")


if __name__ == "__main__":
    sys.exit(main())
