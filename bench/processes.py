"""What every benchmark needs to run servers as real processes: start-up waits and CPU accounting per process, the
servers' own and PostgreSQL's and Redis's (free ports come from `services.common.testing.free_port`).

PostgreSQL and Redis on this machine may serve other work at the same time: their figures are only as clean as the
machine is quiet (the PostgreSQL backends counted are those connected to the benchmark's own database)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def child_pids(pid: int) -> list[int]:
    """The live children of a process (Linux), e.g. the workers of a server started with several."""
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (child := _stat(int(entry.name))) is not None and child[1] == str(pid)
    ]


def command_line(pid: int) -> str:
    """A process's command line, arguments separated by spaces ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its live children (Linux): a server with several workers is a
    supervisor and one process per worker. Shows where each request's cost goes."""
    fields = _stat(pid)
    if fields is None:
        return None
    total = int(fields[11]) + int(fields[12])
    for child_pid in child_pids(pid):
        if (child := _stat(child_pid)) is not None:
            total += int(child[11]) + int(child[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_until_serving(
    process: subprocess.Popen[bytes], url: str, *, log: Path | None = None, timeout: float = 30.0
) -> None:
    """Until `url` answers below 500; exits the benchmark (with the server's last log lines) if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    if log is not None:
        print(*log.read_text(errors="replace").splitlines()[-30:], sep="\n", file=sys.stderr)
    if process.poll() is not None:
        raise SystemExit(f"{url}: server exited with {process.returncode}")
    raise SystemExit(f"{url} did not come up within {timeout} s")


def postgres_backend_pids(admin_url: str, database: str) -> list[int]:
    """The PostgreSQL server processes serving `database` now (one per connection), this query's own excluded."""

    async def query() -> list[int]:
        conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database
            )
        finally:
            await conn.close()
        return [int(r["pid"]) for r in rows]

    return asyncio.run(query())


def redis_server_pid(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        info: dict[str, Any] = client.info("server")
    finally:
        client.close()
    return int(info["process_id"])


#: Where each measured process is found: a callable giving its pids now (asked before and after a run).
PidSource = Callable[[], Iterable[int]]


def cpu_snapshot(sources: dict[str, PidSource]) -> dict[str, dict[int, float]]:
    return {
        name: {pid: seconds for pid in source() if (seconds := cpu_seconds(pid)) is not None}
        for name, source in sources.items()
    }


def cpu_us_per_request(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], requests: int
) -> dict[str, float]:
    """CPU microseconds per request of each named group of processes between two snapshots. A process that
    started in between counts from zero; one that ended in between is lost (pools keep their connections)."""
    return {
        name: round(
            sum(seconds - before.get(name, {}).get(pid, 0.0) for pid, seconds in pids.items()) / max(1, requests) * 1e6,
            1,
        )
        for name, pids in after.items()
    }
