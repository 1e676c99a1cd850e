"""every id column is 64-bit on PostgreSQL

Ids past 2^31 are valid input (the API takes 64-bit ids) and arrive from other services by event; a 32-bit column
made them a 500. SQLite's INTEGER is 64-bit already: nothing to do there.

Revision ID: d64e4a8b3f04
Revises: 60c7bef5b6bd
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d64e4a8b3f04"
down_revision: str | None = "60c7bef5b6bd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, nullable) of every id column that was INTEGER.
COLUMNS = [
    ("idempotency_keys", "id", False),
]


def _alter(type_: sa.types.TypeEngine[int], existing: sa.types.TypeEngine[int], sequence_type: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable in COLUMNS:
        op.alter_column(table, column, type_=type_, existing_type=existing, existing_nullable=nullable)
        # A serial column's sequence keeps its own type: as `integer` it would stop at 2^31 - 1 anyway.
        op.execute(
            f"DO $$ DECLARE s text; BEGIN s := pg_get_serial_sequence('{table}', '{column}'); "
            f"IF s IS NOT NULL THEN EXECUTE format('ALTER SEQUENCE %s AS {sequence_type}', s); END IF; END $$"
        )


def upgrade() -> None:
    _alter(sa.BigInteger(), sa.Integer(), "bigint")


def downgrade() -> None:
    _alter(sa.Integer(), sa.BigInteger(), "integer")
