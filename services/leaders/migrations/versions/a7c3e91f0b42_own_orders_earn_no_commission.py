"""a leader's own orders earn no commission: accruals say why they are 0

Revision ID: a7c3e91f0b42
Revises: ddd997922247
Create Date: 2026-12-07 11:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c3e91f0b42"
down_revision: str | None = "ddd997922247"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("commission_accruals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("excluded", sa.String(length=16), nullable=True))
        batch_op.create_check_constraint("excluded_known", "excluded IS NULL OR excluded IN ('own_order')")


def downgrade() -> None:
    with op.batch_alter_table("commission_accruals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_commission_accruals_excluded_known"), type_="check")
        batch_op.drop_column("excluded")
