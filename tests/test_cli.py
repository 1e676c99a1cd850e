"""The `groupbuy` operations CLI: every command runs the job function the services run, against the databases the
settings name, and a failure is one line and a non-zero exit code."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from services.cli import cli
from services.common import migrate

runner = CliRunner()
SERVICES = ("accounts", "leaders", "orders", "points")


@pytest.fixture(autouse=True)
def environment_restored() -> Iterator[None]:
    """The CLI points the process at the services through environment variables: put them back afterwards."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def databases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """Migrated SQLite databases for every service, named by the settings the CLI reads."""
    files = {service: tmp_path / f"{service}.db" for service in SERVICES}
    for service, path in files.items():
        monkeypatch.setenv(f"{service.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("ACCOUNTS_SIGNING_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("ORDERS_REDIS_URL", raising=False)
    monkeypatch.delenv("EVENTS_NATS_URL", raising=False)
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    yield files


def sql(path: Path, statement: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        rows = [tuple(r) for r in result.all()] if result.returns_rows else []
    engine.dispose()
    return rows


def test_help_lists_every_command() -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in (
        "migrate",
        "settle",
        "evaluate-levels",
        "cancel-expired",
        "cutoff",
        "send-refunds",
        "close-flash-sales",
        "expire-points",
        "reconcile",
        "relay",
        "run",
    ):
        assert command in result.output, command


def test_migrate_creates_every_schema_and_is_idempotent(databases: dict[str, Path]) -> None:
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if line.endswith("migrated")] == [
        f"{service}: migrated" for service in migrate.SERVICES
    ]
    assert sql(databases["orders"], "SELECT count(*) FROM orders") == [(0,)]


def test_cancel_expired_cancels_an_unpaid_order_whose_time_ran_out_once(databases: dict[str, Path]) -> None:
    orders = databases["orders"]
    past = datetime(2000, 1, 1, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S")
    sql(orders, "INSERT INTO products (name, price_fen, stock, created_at, updated_at) "
        "VALUES ('rice', 100, 9, :at, :at)", at=past)  # fmt: skip
    sql(orders, "INSERT INTO orders (customer_id, leader_id, status, goods_fen, points_used, points_discount_fen, "
        "payable_fen, refunded_fen, refund_status, pickup_failed_attempts, expires_at, created_at, updated_at, "
        "pickup_date) VALUES ('c1', 'l1', 'pending_payment', 100, 0, 0, 100, 0, 'none', 0, :at, :at, :at, "
        "'2000-01-02')", at=past)  # fmt: skip
    sql(orders, "INSERT INTO order_lines (order_id, product_id, product_name, quantity, unit_price_fen, amount_fen, "
        "points_discount_fen, points_used, paid_fen, refunded_quantity, refunded_fen, refunded_points) "
        "VALUES (1, 1, 'rice', 1, 100, 100, 0, 0, 100, 0, 0, 0)")  # fmt: skip

    first = runner.invoke(cli, ["cancel-expired"])
    second = runner.invoke(cli, ["cancel-expired"])
    assert (first.exit_code, second.exit_code) == (0, 0), first.output + second.output
    assert "cancelled 1 unpaid orders" in first.output
    assert "cancelled 0 unpaid orders" in second.output
    assert sql(orders, "SELECT status FROM orders") == [("cancelled",)]
    assert sql(orders, "SELECT stock FROM products") == [(10,)]  # the unit came back, once


@pytest.mark.parametrize(
    "command",
    [
        ["settle"],
        ["evaluate-levels"],
        ["cutoff"],
        ["send-refunds"],
        ["close-flash-sales"],
        ["expire-points"],
    ],
)
def test_each_job_command_runs_the_services_job(databases: dict[str, Path], command: list[str]) -> None:
    result = runner.invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert "error" not in result.output.lower()


def test_reconcile_reports_and_refuses_dates_without_an_offset(databases: dict[str, Path]) -> None:
    bad = runner.invoke(cli, ["reconcile", "--from", "2026-12-01T00:00:00", "--to", "2026-12-02T00:00:00+08:00"])
    assert bad.exit_code == 2
    assert "needs a UTC offset" in bad.output
    # No order in the range: nothing to ask the other services, nothing lost.
    good = runner.invoke(cli, ["reconcile", "--from", "2026-12-01T00:00:00+08:00", "--to", "2026-12-02T00:00:00+08:00"])
    assert good.exit_code == 0, good.output


def test_a_database_that_cannot_be_reached_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"missing_{uuid.uuid4().hex[:8]}"
    # Nothing listens on port 1: the driver's refusal is the whole story.
    monkeypatch.setenv("LEADERS_DATABASE_URL", f"postgresql+asyncpg://nobody@127.0.0.1:1/{name}")
    result = runner.invoke(cli, ["settle"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:")
    assert "Traceback" not in result.output


def test_services_are_found_where_make_run_puts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli import _point_at_local_services
    from services.orders.config import get_settings

    monkeypatch.setenv("LEADERS_PORT", "18001")
    monkeypatch.delenv("ORDERS_LEADERS_URL", raising=False)
    _point_at_local_services()
    assert get_settings().leaders_url == "http://127.0.0.1:18001"
    monkeypatch.setenv("ORDERS_LEADERS_URL", "http://leaders.internal:8001")  # an explicit setting wins
    _point_at_local_services()
    assert get_settings().leaders_url == "http://leaders.internal:8001"
