"""The `groupbuy` operations CLI: every command runs the job function the services run, against the databases the
settings name, and a failure is one line and a non-zero exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from services.cli import cli
from services.common import migrate

runner = CliRunner()
SERVICES = ("accounts", "analytics", "leaders", "orders", "points")


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
        "seed",
        "rebuild-analytics",
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
    # Even with no order in the range the consumers are asked what they credited (an effect with no order is what a
    # forged event leaves): with nobody answering, the check fails in one line rather than report nothing lost.
    down = runner.invoke(cli, ["reconcile", "--from", "2026-12-01T00:00:00+08:00", "--to", "2026-12-02T00:00:00+08:00"])
    assert down.exit_code == 1, down.output
    assert "error:" in down.output and "Traceback" not in down.output


def test_reconcile_asks_the_consumers_what_they_credited_and_reports_orphaned_effects(
    databases: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.orders.clients import HttpEffectsSource
    from services.orders.reconciliation.receiving import HttpReceivingSide
    from services.orders.reconciliation.schemas import ReconciledService

    credited: dict[ReconciledService, set[int]] = {ReconciledService.LEADERS: set(), ReconciledService.POINTS: set()}
    asked: list[tuple[datetime, datetime]] = []

    async def orders_with_effects(
        self: HttpReceivingSide, *, since: datetime, until: datetime
    ) -> dict[ReconciledService, set[int]]:
        asked.append((since, until))
        return credited

    async def commission_effects(self: HttpEffectsSource, order_ids: Any) -> dict[str, Any]:
        return {str(i): {"accruals": {"1": 1}, "reversals": {}} for i in order_ids}

    async def points_effects(self: HttpEffectsSource, order_ids: Any) -> dict[str, Any]:
        return {}

    # The consumers' answers over HTTP, stood in for: the command asks the same questions as the ops route.
    monkeypatch.setattr(HttpReceivingSide, "orders_with_effects", orders_with_effects)
    monkeypatch.setattr(HttpEffectsSource, "commission_effects", commission_effects)
    monkeypatch.setattr(HttpEffectsSource, "points_effects", points_effects)
    window = ["reconcile", "--from", "2026-12-01T00:00:00+08:00", "--to", "2026-12-02T00:00:00+08:00"]
    good = runner.invoke(cli, window)
    assert good.exit_code == 0, good.output
    assert asked == [(datetime(2026, 11, 30, 16, tzinfo=UTC), datetime(2026, 12, 1, 16, tzinfo=UTC))]

    credited[ReconciledService.LEADERS] = {987_654}  # commission for an order that does not exist
    forged = runner.invoke(cli, window)
    assert forged.exit_code == 1, forged.output
    assert '"orphaned": 1' in forged.output or '"orphaned":1' in forged.output


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


def test_seed_writes_load_test_data_consistent_across_services_and_refuses_twice(databases: dict[str, Path]) -> None:
    result = runner.invoke(cli, ["seed", "--leaders", "3", "--members", "12", "--orders", "40"])
    assert result.exit_code == 0, result.output
    assert "orders/s" in result.output and "seeded 3 leaders, 12 members, 40 orders" in result.output
    orders, leaders, points, analytics = (databases[s] for s in ("orders", "leaders", "points", "analytics"))

    assert sql(leaders, "SELECT count(*) FROM leaders WHERE status = 'active'") == [(3,)]
    assert sql(leaders, "SELECT count(*), count(DISTINCT leader_id) FROM community_members") == [(12, 3)]
    [(count, paid, statuses)] = sql(orders, "SELECT count(*), sum(payable_fen), count(DISTINCT status) FROM orders")
    assert (count, statuses) == (40, 1)
    assert sql(orders, "SELECT DISTINCT status FROM orders") == [("picked_up",)]
    # Each order's customer is a member of the order's leader's community.
    memberships: dict[Any, Any] = dict(sql(leaders, "SELECT customer_id, leader_id FROM community_members"))  # type: ignore[arg-type]
    assert all(memberships[c] == lead for c, lead in sql(orders, "SELECT customer_id, leader_id FROM orders"))
    # Commission: one accrual and one ledger entry per line at the default 10 % rule; the accounts sum the ledger.
    lines: dict[int, int] = dict(sql(orders, "SELECT id, paid_fen FROM order_lines"))  # type: ignore[arg-type]
    accruals: dict[int, int] = dict(sql(leaders, "SELECT line_id, commission_fen FROM commission_accruals"))  # type: ignore[arg-type]
    assert accruals == {line: fen // 10 for line, fen in lines.items()}
    assert sql(leaders, "SELECT count(*), sum(amount_fen) FROM commission_entries WHERE kind = 'accrual'") == [
        (40, sum(accruals.values()))
    ]
    for leader, pending in sql(leaders, "SELECT leader_id, pending_fen FROM commission_accounts"):
        [(last,)] = sql(
            leaders,
            "SELECT pending_after_fen FROM commission_entries WHERE leader_id = :l ORDER BY id DESC LIMIT 1",
            l=leader,
        )
        assert pending == last
    assert sql(leaders, "SELECT sum(pending_fen) FROM commission_accounts") == [(sum(accruals.values()),)]
    assert sql(leaders, "SELECT count(*), sum(paid_fen) FROM leader_orders") == [(40, paid)]
    # Points: purchase points (1 per yuan) per order, each in a lot; the accounts sum the ledger.
    assert sql(points, "SELECT count(*), sum(points) FROM points_purchase_awards") == [
        (40, sum(paid // 100 for paid in lines.values()))
    ]
    assert sql(points, "SELECT sum(balance) FROM points_accounts") == sql(
        points, "SELECT sum(points) FROM points_entries"
    )
    assert sql(points, "SELECT sum(remaining) FROM points_lots") == sql(
        points, "SELECT sum(balance) FROM points_accounts"
    )
    # The events are in the outboxes, delivered (their effects are above), and analytics was rebuilt from them.
    # The products' audit entries (the seed created them as the catalogue does) wait for orders' relay.
    assert sql(orders, "SELECT status, count(*) FROM outbox WHERE type <> 'audit.recorded' GROUP BY status") == [
        ("delivered", 80)
    ]
    assert sql(analytics, "SELECT count(*) FROM inbox") == [(80 + 12,)]

    again = runner.invoke(cli, ["seed", "--leaders", "3", "--orders", "1"])
    assert again.exit_code == 1
    assert "load-test data is there already" in again.output and "Traceback" not in again.output
    assert sql(orders, "SELECT count(*) FROM orders") == [(40,)]


def test_rebuild_analytics_replays_the_producers_outboxes_again(databases: dict[str, Path]) -> None:
    assert runner.invoke(cli, ["seed", "--leaders", "2", "--members", "4", "--orders", "5"]).exit_code == 0
    analytics = databases["analytics"]
    sql(analytics, "DELETE FROM inbox")
    result = runner.invoke(cli, ["rebuild-analytics", "--from-databases"])
    assert result.exit_code == 0, result.output
    # 14 events analytics applies, and the products' 8 audit entries, which it reads past.
    assert "analytics rebuilt: 22 events read" in result.output
    assert sql(analytics, "SELECT count(*) FROM inbox") == [(14,)]


def test_rebuild_analytics_through_the_apis_fails_in_one_line_when_a_producer_is_down(
    databases: dict[str, Path],
) -> None:
    # As an operator runs it (a process of its own): the rebuild's own logging goes to the terminal as configured.
    env = {**os.environ, "ANALYTICS_LEADERS_URL": "http://127.0.0.1:1", "AUTH_ACCOUNTS_URL": "http://127.0.0.1:1"}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "rebuild-analytics"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_seed_without_numbers_loads_the_demo_through_the_gateway_or_says_it_cannot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = runner.invoke(cli, ["seed", "--gateway", "http://127.0.0.1:1"])
    assert result.exit_code == 1
    assert "error: the gateway at http://127.0.0.1:1 did not load the demo data" in result.output
    refused = runner.invoke(cli, ["seed", "--orders", "5"])
    assert refused.exit_code == 2 and "needs --leaders" in refused.output
