"""every id column is 64-bit on PostgreSQL

Ids past 2^31 are valid input (the API takes 64-bit ids) and arrive from other services by event; a 32-bit column
made them a 500. SQLite's INTEGER is 64-bit already: nothing to do there.

Revision ID: d64e4a8b3f04
Revises: 60c7bef5b6bd
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

from services.common.migrate import set_id_columns_64_bit

revision: str = "d64e4a8b3f04"
down_revision: str | None = "60c7bef5b6bd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, nullable) of every id column that was INTEGER.
COLUMNS = [
    ("idempotency_keys", "id", False),
]


def upgrade() -> None:
    set_id_columns_64_bit(COLUMNS, wide=True)


def downgrade() -> None:
    set_id_columns_64_bit(COLUMNS, wide=False)
