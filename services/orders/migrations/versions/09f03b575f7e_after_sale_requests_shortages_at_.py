"""after-sale requests (units reserved per order line), shortages at receipt, tickets; refunds keyed by what they settle

Revision ID: 09f03b575f7e
Revises: b3f0c2d4e6a8
Create Date: 2026-12-07 08:53:34.883657
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import services.common.db

revision: str = "09f03b575f7e"
down_revision: str | None = "b3f0c2d4e6a8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_shortages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("leader_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("product_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("refunded_quantity", sa.Integer(), nullable=False),
        sa.Column("refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("reported_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_delivery_shortages_quantity_positive")),
        sa.CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity",
            name=op.f("ck_delivery_shortages_refunded_within_reported"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["delivery_batches.id"], name=op.f("fk_delivery_shortages_batch_id_delivery_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_shortages")),
        sa.UniqueConstraint(
            "batch_id", "product_id", "kind", name=op.f("uq_delivery_shortages_batch_id_product_id_kind")
        ),
    )
    with op.batch_alter_table("delivery_shortages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_shortages_reported_on"), ["reported_on"], unique=False)

    op.create_table(
        "tickets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("opener_role", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("leader_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("assignee_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_answered_at", services.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", services.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", services.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_tickets_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index("ix_tickets_leader_id_id", ["leader_id", "id"], unique=False)
        batch_op.create_index("ix_tickets_opened_by_id", ["opened_by", "id"], unique=False)
        batch_op.create_index("ix_tickets_status_id", ["status", "id"], unique=False)

    op.create_table(
        "after_sale_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("leader_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("refund_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("decision_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", services.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("appealed_at", services.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approved_at", services.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", services.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_fen >= 0", name=op.f("ck_after_sale_requests_amount_not_negative")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_after_sale_requests_order_id_orders")),
        sa.ForeignKeyConstraint(["refund_id"], ["refunds.id"], name=op.f("fk_after_sale_requests_refund_id_refunds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_after_sale_requests")),
    )
    with op.batch_alter_table("after_sale_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_after_sale_requests_customer_id_approved_at", ["customer_id", "approved_at"], unique=False
        )
        batch_op.create_index("ix_after_sale_requests_customer_id_id", ["customer_id", "id"], unique=False)
        batch_op.create_index("ix_after_sale_requests_leader_id_id", ["leader_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_after_sale_requests_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_after_sale_requests_status_id", ["status", "id"], unique=False)

    op.create_table(
        "delivery_shortage_refunds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shortage_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("refund_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_delivery_shortage_refunds_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_delivery_shortage_refunds_order_id_orders")),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_delivery_shortage_refunds_refund_id_refunds")
        ),
        sa.ForeignKeyConstraint(
            ["shortage_id"],
            ["delivery_shortages.id"],
            name=op.f("fk_delivery_shortage_refunds_shortage_id_delivery_shortages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_shortage_refunds")),
    )
    with op.batch_alter_table("delivery_shortage_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_shortage_refunds_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_delivery_shortage_refunds_shortage_id"), ["shortage_id"], unique=False)

    op.create_table(
        "ticket_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_history_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_history")),
    )
    with op.batch_alter_table("ticket_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_history_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "ticket_replies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("author_role", sa.String(length=16), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("created_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_replies_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_replies")),
    )
    with op.batch_alter_table("ticket_replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_replies_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "after_sale_decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["after_sale_requests.id"],
            name=op.f("fk_after_sale_decisions_request_id_after_sale_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_after_sale_decisions")),
    )
    with op.batch_alter_table("after_sale_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_after_sale_decisions_request_id"), ["request_id"], unique=False)

    op.create_table(
        "after_sale_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("product_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_after_sale_lines_quantity_positive")),
        sa.ForeignKeyConstraint(["line_id"], ["order_lines.id"], name=op.f("fk_after_sale_lines_line_id_order_lines")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["after_sale_requests.id"], name=op.f("fk_after_sale_lines_request_id_after_sale_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_after_sale_lines")),
        sa.UniqueConstraint("request_id", "line_id", name=op.f("uq_after_sale_lines_request_id_line_id")),
    )
    with op.batch_alter_table("after_sale_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_after_sale_lines_request_id"), ["request_id"], unique=False)

    # Units asked for in open after-sale requests: none before requests existed.
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reserved_quantity", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_check_constraint(
            op.f("ck_order_lines_reserved_within_bought"),
            "reserved_quantity >= 0 AND refunded_quantity + reserved_quantity <= quantity",
        )

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_refunds_source_key"), ["source_key"])


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_refunds_source_key"), type_="unique")
        batch_op.drop_column("source_key")

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_order_lines_reserved_within_bought"), type_="check")
        batch_op.drop_column("reserved_quantity")

    with op.batch_alter_table("after_sale_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_after_sale_lines_request_id"))

    op.drop_table("after_sale_lines")
    with op.batch_alter_table("after_sale_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_after_sale_decisions_request_id"))

    op.drop_table("after_sale_decisions")
    with op.batch_alter_table("ticket_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_replies_ticket_id"))

    op.drop_table("ticket_replies")
    with op.batch_alter_table("ticket_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_history_ticket_id"))

    op.drop_table("ticket_history")
    with op.batch_alter_table("delivery_shortage_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_shortage_refunds_shortage_id"))
        batch_op.drop_index(batch_op.f("ix_delivery_shortage_refunds_order_id"))

    op.drop_table("delivery_shortage_refunds")
    with op.batch_alter_table("after_sale_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_after_sale_requests_status_id")
        batch_op.drop_index(batch_op.f("ix_after_sale_requests_order_id"))
        batch_op.drop_index("ix_after_sale_requests_leader_id_id")
        batch_op.drop_index("ix_after_sale_requests_customer_id_id")
        batch_op.drop_index("ix_after_sale_requests_customer_id_approved_at")

    op.drop_table("after_sale_requests")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_status_id")
        batch_op.drop_index("ix_tickets_opened_by_id")
        batch_op.drop_index("ix_tickets_leader_id_id")

    op.drop_table("tickets")
    with op.batch_alter_table("delivery_shortages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_shortages_reported_on"))

    op.drop_table("delivery_shortages")
