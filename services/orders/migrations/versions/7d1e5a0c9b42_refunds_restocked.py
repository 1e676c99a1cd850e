"""refunds record whether their units went back on sale

Revision ID: 7d1e5a0c9b42
Revises: 2c97314af1de
Create Date: 2026-12-02 13:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d1e5a0c9b42"
down_revision: str | None = "2c97314af1de"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Refunds made before this column existed did not return stock: false is what happened to them.
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("restocked", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("restocked")
