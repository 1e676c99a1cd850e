"""withdrawals paid through a provider: paying and failed states, what the provider last said

Revision ID: 913f4a7c1235
Revises: e2d73ac3698d
Create Date: 2026-12-07 08:57:29.297114

An approved withdrawal is `paying` until the provider (WeChat's transfer to balance) says it succeeded or failed;
a failed payout's amount goes back to available.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "913f4a7c1235"
down_revision: str | None = "e2d73ac3698d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_STATES = "status IN ('requested', 'paying', 'paid', 'rejected', 'failed')"
OLD_STATES = "status IN ('requested', 'paid', 'rejected')"


def upgrade() -> None:
    with op.batch_alter_table("withdrawals") as batch:
        batch.add_column(sa.Column("payout_state", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("payout_package", sa.String(length=512), nullable=True))
        batch.drop_constraint(op.f("ck_withdrawals_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_withdrawals_status_known"), NEW_STATES)


def downgrade() -> None:
    with op.batch_alter_table("withdrawals") as batch:
        batch.drop_constraint(op.f("ck_withdrawals_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_withdrawals_status_known"), OLD_STATES)
        batch.drop_column("payout_package")
        batch.drop_column("payout_state")
