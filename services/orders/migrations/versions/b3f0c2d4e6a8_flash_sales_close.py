"""flash sales give their unsold units back to the product once closed

Revision ID: b3f0c2d4e6a8
Revises: 7d1e5a0c9b42
Create Date: 2026-12-02 13:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = "b3f0c2d4e6a8"
down_revision: str | None = "7d1e5a0c9b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing sales start open with nothing returned: the closing job gives back what they did not sell.
    with op.batch_alter_table("flash_sales") as batch:
        batch.add_column(sa.Column("closed_at", services.common.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("returned_to_product", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("flash_sales") as batch:
        batch.drop_column("returned_to_product")
        batch.drop_column("closed_at")
