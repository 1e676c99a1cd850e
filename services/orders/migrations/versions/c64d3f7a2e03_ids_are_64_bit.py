"""every id column is 64-bit on PostgreSQL

Ids past 2^31 are valid input (the API takes 64-bit ids) and arrive from other services by event; a 32-bit column
made them a 500. SQLite's INTEGER is 64-bit already: nothing to do there.

Revision ID: c64d3f7a2e03
Revises: 5e1d7c2a9b30
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

from services.common.migrate import set_id_columns_64_bit

revision: str = "c64d3f7a2e03"
down_revision: str | None = "5e1d7c2a9b30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, nullable) of every id column that was INTEGER.
COLUMNS = [
    ("after_sale_lines", "product_id", False),
    ("delivery_batch_items", "id", False),
    ("delivery_batch_items", "batch_id", False),
    ("delivery_batch_items", "product_id", False),
    ("delivery_batches", "id", False),
    ("delivery_shortages", "product_id", False),
    ("flash_sale_purchases", "id", False),
    ("flash_sale_purchases", "sale_id", False),
    ("flash_sales", "id", False),
    ("flash_sales", "product_id", False),
    ("idempotency_keys", "id", False),
    ("order_lines", "id", False),
    ("order_lines", "order_id", False),
    ("order_lines", "product_id", False),
    ("order_log", "id", False),
    ("order_log", "order_id", False),
    ("orders", "id", False),
    ("orders", "flash_sale_id", True),
    ("orders", "delivery_batch_id", True),
    ("payments", "id", False),
    ("payments", "order_id", False),
    ("products", "id", False),
    ("provider_trades", "order_id", False),
    ("refund_lines", "id", False),
    ("refund_lines", "refund_id", False),
    ("refund_lines", "line_id", False),
    ("refunds", "id", False),
    ("refunds", "order_id", False),
]


def upgrade() -> None:
    set_id_columns_64_bit(COLUMNS, wide=True)


def downgrade() -> None:
    set_id_columns_64_bit(COLUMNS, wide=False)
