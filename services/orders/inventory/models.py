"""The tables stock is counted in besides `products.stock`: a flash sale's units (set aside from a product, sold at a
sale price within a window) and what each buyer holds of them (the per-buyer limit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, UniqueConstraint
from sqlmodel import Field

from services.common.db import timestamp_field
from services.orders.db import OrdersBase


class FlashSale(OrdersBase, table=True):
    __tablename__ = "flash_sales"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= stock", name="remaining_within_stock"),
        CheckConstraint("per_user_limit >= 1", name="limit_positive"),
        CheckConstraint("ends_at > starts_at", name="window_not_empty"),
    )

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="products.id", index=True)
    product_name: str = Field(max_length=100)
    price_fen: int = Field(sa_type=BigInteger)
    stock: int = Field(sa_type=BigInteger)
    remaining: int = Field(sa_type=BigInteger)
    per_user_limit: int
    starts_at: datetime = timestamp_field()
    ends_at: datetime = timestamp_field()
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp_field()
    # Set when the ended sale's unsold units went back to the product (`service.close_ended_sales`); units of
    # orders cancelled after that go to the product too. stock - remaining - returned_to_product = units sold.
    closed_at: datetime | None = timestamp_field(nullable=True)
    returned_to_product: int = Field(default=0, sa_type=BigInteger)


class FlashSalePurchase(OrdersBase, table=True):
    """Units a buyer holds in a sale (pending or paid orders). Unique per (sale, user): the per-user limit's guard."""

    __tablename__ = "flash_sale_purchases"
    __table_args__ = (
        UniqueConstraint("sale_id", "user_id"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sale_id: int = Field(foreign_key="flash_sales.id")
    user_id: str = Field(max_length=64)
    quantity: int
    updated_at: datetime = timestamp_field()
