"""A short seeded crash-injection run (the long one is `make crash-test`): services as real processes on PostgreSQL
and NATS, killed at the four crash points; reconciliation must find nothing lost and nothing duplicated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.nats
def test_seeded_crashes_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    output = tmp_path / "crash.json"
    command = [
        sys.executable,
        "-m",
        "tests.crash.harness",
        "--orders=16",
        "--crash-probability=0.05",
        "--min-crashes=3",
        "--seed=11",
        "--settle-timeout=90",
        f"--workdir={tmp_path}",
        f"--output={output}",
    ]
    completed = subprocess.run(command, cwd=REPO, env=os.environ, capture_output=True, text=True, timeout=300)
    assert output.exists(), completed.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["lost"] == 0 and report["duplicated"] == 0, report["reconciliation"]["differences"][:10]
    assert report["crashes_total"] >= 3
    assert report["unexpected_exits"] == {}
    assert report["driven"]["picked_up"] > 0 and report["driven"]["refunds"] > 0
    assert completed.returncode == 0, completed.stderr[-3000:]
