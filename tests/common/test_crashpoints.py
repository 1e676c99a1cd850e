"""Crash points kill the process only when asked to, and then like a kill -9."""

from __future__ import annotations

import os
import subprocess
import sys

from services.common.crashpoints import CRASH_EXIT_CODE

SCRIPT = "from services.common.crashpoints import crash_point; crash_point('relay.after_publish'); print('survived')"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"CRASH_POINTS", "CRASH_SEED"}}
    return subprocess.run([sys.executable, "-c", SCRIPT], env=clean | env, capture_output=True, text=True, check=False)


def test_a_process_passes_crash_points_when_none_are_configured() -> None:
    result = _run({})
    assert result.returncode == 0 and "survived" in result.stdout


def test_a_configured_crash_point_exits_at_once_without_cleanup() -> None:
    result = _run({"CRASH_POINTS": "relay.after_publish:1"})
    assert result.returncode == CRASH_EXIT_CODE and "survived" not in result.stdout


def test_other_crash_points_do_not_fire() -> None:
    result = _run({"CRASH_POINTS": "consumer.after_commit:1"})
    assert result.returncode == 0
