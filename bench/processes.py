"""What every benchmark needs to run servers as real processes: start-up waits and CPU accounting
(free ports come from `services.common.testing.free_port`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its live children (Linux): a server with several workers is a
    supervisor and one process per worker. Shows where each request's cost goes."""
    fields = _stat(pid)
    if fields is None:
        return None
    total = int(fields[11]) + int(fields[12])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (child := _stat(int(entry.name))) is not None and child[1] == str(pid):
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
