"""every id column is 64-bit on PostgreSQL

Ids past 2^31 are valid input (the API takes 64-bit ids) and arrive from other services by event; a 32-bit column
made them a 500. SQLite's INTEGER is 64-bit already: nothing to do there.

Revision ID: a64b1d5e0c01
Revises: 5f0c2d7a9b31
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

from services.common.migrate import set_id_columns_64_bit

revision: str = "a64b1d5e0c01"
down_revision: str | None = "5f0c2d7a9b31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, nullable) of every id column that was INTEGER.
COLUMNS = [
    ("wechat_identities", "id", False),
]


def upgrade() -> None:
    set_id_columns_64_bit(COLUMNS, wide=True)


def downgrade() -> None:
    set_id_columns_64_bit(COLUMNS, wide=False)
