"""every id column is 64-bit on PostgreSQL

Ids past 2^31 are valid input (the API takes 64-bit ids) and arrive from other services by event; a 32-bit column
made them a 500. SQLite's INTEGER is 64-bit already: nothing to do there.

Revision ID: b64c2e6f1d02
Revises: c41e5f7a2b18
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

from services.common.migrate import set_id_columns_64_bit

revision: str = "b64c2e6f1d02"
down_revision: str | None = "c41e5f7a2b18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, nullable) of every id column that was INTEGER.
COLUMNS = [
    ("commission_accruals", "id", False),
    ("commission_accruals", "rule_id", True),
    ("commission_entries", "accrual_id", True),
    ("commission_entries", "withdrawal_id", True),
    ("commission_reversals", "id", False),
    ("commission_reversals", "accrual_id", False),
    ("commission_rules", "id", False),
    ("community_member_history", "id", False),
    ("community_members", "id", False),
    ("idempotency_keys", "id", False),
    ("leader_applications", "id", False),
    ("leader_changes", "id", False),
    ("leaders", "application_id", True),
    ("level_changes", "id", False),
    ("withdrawals", "id", False),
]


def upgrade() -> None:
    set_id_columns_64_bit(COLUMNS, wide=True)


def downgrade() -> None:
    set_id_columns_64_bit(COLUMNS, wide=False)
