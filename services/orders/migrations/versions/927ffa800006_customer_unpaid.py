"""what each customer holds unpaid: the caps on unpaid orders and units

Revision ID: 927ffa800006
Revises: 8d34b729ac29
Create Date: 2026-12-07 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import services.common.db

revision: str = "927ffa800006"
down_revision: str | None = "8d34b729ac29"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_unpaid",
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("orders >= 0", name=op.f("ck_customer_unpaid_orders_not_negative")),
        sa.CheckConstraint("units >= 0", name=op.f("ck_customer_unpaid_units_not_negative")),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_unpaid")),
    )
    # Orders already waiting for payment count from the start, so paying or cancelling them gives back what they hold.
    op.execute(
        """
        INSERT INTO customer_unpaid (customer_id, orders, units, updated_at)
        SELECT o.customer_id, COUNT(DISTINCT o.id), COALESCE(SUM(l.quantity), 0), MAX(o.updated_at)
        FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id
        WHERE o.status = 'pending_payment' AND o.flash_sale_id IS NULL
        GROUP BY o.customer_id
        """
    )


def downgrade() -> None:
    op.drop_table("customer_unpaid")
