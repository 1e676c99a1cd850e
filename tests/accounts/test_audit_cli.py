"""Runs started by hand from the CLI reach the audit trail as the person who ran them (`cli:<os user>`)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest

from services.cli import cli
from tests.test_cli import databases, environment_restored, runner, sql

__all__ = ["databases", "environment_restored"]  # the fixtures of the CLI's own tests


@pytest.mark.parametrize(
    ("command", "service", "action", "target_type"),
    [
        ("settle", "leaders", "commission.settled", "settlement"),
        ("evaluate-levels", "leaders", "level.evaluated", "level_evaluation"),
        ("cutoff", "orders", "delivery.cutoff_run", "pickup_date"),
        ("send-refunds", "orders", "refunds.sent", "refund_run"),
    ],
)
def test_a_run_by_hand_is_recorded_with_who_ran_it_and_what_came_of_it(
    databases: dict[str, Path], command: str, service: str, action: str, target_type: str
) -> None:
    result = runner.invoke(cli, [command])
    assert result.exit_code == 0, result.output
    rows = sql(databases[service], "SELECT data FROM outbox WHERE type = 'audit.recorded'")
    assert len(rows) == 1, rows
    entry = json.loads(str(rows[0][0]))
    assert (entry["service"], entry["actor"], entry["action"]) == (service, f"cli:{getpass.getuser()}", action)
    assert entry["target_type"] == target_type and entry["before"] is None and isinstance(entry["after"], dict)
