"""Refunds applied before refunds were dated are rebuilt from the commission reversals when the table arrives."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from services.common import migrate

BEFORE_DATED_REFUNDS = "a7c3e91f0b42"


def test_the_refunds_of_earlier_orders_are_rebuilt_from_their_reversals(tmp_path: Path) -> None:
    path = tmp_path / "leaders.db"
    migrate.upgrade("leaders", f"sqlite+aiosqlite:///{path}", BEFORE_DATED_REFUNDS)
    with sqlite3.connect(path) as db:
        # Order 7 of leader l1: a line of 3 units for 30,000 and one of 1 unit for 5,000; refund 70 took back 2 and 1
        # units, refund 71 the last unit of the first line.
        for accrual_id, line_id, quantity, base in ((1, 101, 3, 30_000), (2, 102, 1, 5_000)):
            db.execute(
                "INSERT INTO commission_accruals (id, leader_id, order_id, line_id, product_id, customer_id, quantity,"
                " base_fen, commission_fen, reversed_quantity, reversed_fen, state, paid_at, created_at)"
                " VALUES (?, 'l1', 7, ?, 1, 'c1', ?, ?, 0, 0, 0, 'pending', '2026-10-01 00:00:00.000000',"
                " '2026-10-01 00:00:00.000000')",
                (accrual_id, line_id, quantity, base),
            )
        for refund_id, accrual_id, line_id, quantity, at in (
            (70, 1, 101, 2, "2026-10-05 10:00:00.000000"),
            (70, 2, 102, 1, "2026-10-05 10:00:01.000000"),
            (71, 1, 101, 1, "2026-11-02 08:00:00.000000"),
        ):
            db.execute(
                "INSERT INTO commission_reversals (accrual_id, refund_id, line_id, quantity, amount_fen, source,"
                " created_at) VALUES (?, ?, ?, ?, 0, 'pending', ?)",
                (accrual_id, refund_id, line_id, quantity, at),
            )
    migrate.upgrade("leaders", f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT refund_id, order_id, leader_id, refund_fen, refunded_at FROM leader_refunds ORDER BY refund_id"
        ).fetchall()
    assert rows == [
        (70, 7, "l1", 25_000, "2026-10-05 10:00:00.000000"),
        (71, 7, "l1", 10_000, "2026-11-02 08:00:00.000000"),
    ]
