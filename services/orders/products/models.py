from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint
from sqlmodel import Field

from services.common.db import timestamp_field
from services.orders.db import OrdersBase


class Product(OrdersBase, table=True):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    price_fen: int = Field(sa_type=BigInteger)
    stock: int = Field(sa_type=BigInteger)
    category: str | None = Field(default=None, max_length=50, index=True)
    image_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
