"""payments at the provider: trades, notifications, refunds, reconciliations

Revision ID: 468f0261a6da
Revises: 09f03b575f7e
Create Date: 2026-12-07 08:52:30.875848

The orders opened at the payment provider (one per order), the notifications it sent (once per id), the refunds
asked of it (once per out_refund_no, with their attempts), the daily reconciliation of its bills; payments learn
when they were paid and who reported them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import services.common.db

revision: str = "468f0261a6da"
down_revision: str | None = "09f03b575f7e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("notification_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("transaction_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("received_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_notifications")),
        sa.UniqueConstraint("notification_id", name=op.f("uq_payment_notifications_notification_id")),
    )
    with op.batch_alter_table("payment_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_notifications_reference"), ["reference"], unique=False)

    op.create_table(
        "payment_reconciliations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("trade_lines", sa.Integer(), nullable=False),
        sa.Column("refund_lines", sa.Integer(), nullable=False),
        sa.Column("our_payments", sa.Integer(), nullable=False),
        sa.Column("our_refunds", sa.Integer(), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.Column("created_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_reconciliations")),
        sa.UniqueConstraint("bill_date", name=op.f("uq_payment_reconciliations_bill_date")),
    )
    op.create_table(
        "provider_trades",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("out_trade_no", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("prepay_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("payer_openid", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("prepay_expires_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("close_attempts", sa.Integer(), nullable=False),
        sa.Column("close_error", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_provider_trades_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_trades")),
        sa.UniqueConstraint("order_id", name=op.f("uq_provider_trades_order_id")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_provider_trades_out_trade_no")),
    )
    with op.batch_alter_table("provider_trades", schema=None) as batch_op:
        batch_op.create_index("ix_provider_trades_status_id", ["status", "id"], unique=False)

    op.create_table(
        "provider_refunds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("out_refund_no", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("refund_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("transaction_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("provider_refund_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("succeeded_at", services.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_provider_refunds_payment_id_payments")),
        sa.ForeignKeyConstraint(["refund_id"], ["refunds.id"], name=op.f("fk_provider_refunds_refund_id_refunds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_refunds")),
        sa.UniqueConstraint("out_refund_no", name=op.f("uq_provider_refunds_out_refund_no")),
    )
    with op.batch_alter_table("provider_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_refunds_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index("ix_provider_refunds_status_id", ["status", "id"], unique=False)

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paid_at", services.common.db.UTCDateTime(timezone=True), nullable=True))
        # Payments before this revision came from provider notifications, paid when they were recorded.
        batch_op.add_column(sa.Column("source", sa.String(length=16), nullable=False, server_default="provider"))
        batch_op.create_index(batch_op.f("ix_payments_paid_at"), ["paid_at"], unique=False)
    op.execute("UPDATE payments SET paid_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_paid_at"))
        batch_op.drop_column("source")
        batch_op.drop_column("paid_at")

    with op.batch_alter_table("provider_refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_refunds_status_id")
        batch_op.drop_index(batch_op.f("ix_provider_refunds_payment_id"))

    op.drop_table("provider_refunds")
    with op.batch_alter_table("provider_trades", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_trades_status_id")

    op.drop_table("provider_trades")
    op.drop_table("payment_reconciliations")
    with op.batch_alter_table("payment_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_notifications_reference"))

    op.drop_table("payment_notifications")
