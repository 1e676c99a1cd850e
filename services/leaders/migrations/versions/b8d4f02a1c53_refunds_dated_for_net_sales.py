"""refunds are recorded with their date, so net sales subtract them in the period they were made

Revision ID: b8d4f02a1c53
Revises: a7c3e91f0b42
Create Date: 2026-12-07 11:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = "b8d4f02a1c53"
down_revision: str | None = "a7c3e91f0b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leader_refunds",
        sa.Column("refund_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("leader_id", sa.String(length=64), nullable=False),
        sa.Column("refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("refund_id", name=op.f("pk_leader_refunds")),
    )
    with op.batch_alter_table("leader_refunds", schema=None) as batch_op:
        batch_op.create_index("ix_leader_refunds_leader_id_refunded_at", ["leader_id", "refunded_at"], unique=False)
    # Refunds applied before this revision: their amounts were only kept summed per order, and their dates not at
    # all. The commission reversals kept each (refund, line) with the units refunded, so each refund is rebuilt from
    # them: the line's paid amount in proportion to the units (orders' own rounding may differ by a fen), dated when
    # it was applied here (at most the relay's delay after it was made).
    op.execute(
        """
        INSERT INTO leader_refunds (refund_id, order_id, leader_id, refund_fen, refunded_at)
        SELECT r.refund_id, MIN(a.order_id), MIN(a.leader_id), SUM(a.base_fen * r.quantity / a.quantity),
            MIN(r.created_at)
        FROM commission_reversals r JOIN commission_accruals a ON a.id = r.accrual_id
        WHERE a.quantity > 0
        GROUP BY r.refund_id
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("leader_refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_leader_refunds_leader_id_refunded_at")
    op.drop_table("leader_refunds")
