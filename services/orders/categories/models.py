"""The category tree ops keep (水果 → 苹果梨): each category names its parent; roots have none."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field

from services.common.db import id_field, ref_field, timestamp_field
from services.orders.db import OrdersBase


class Category(OrdersBase, table=True):
    __tablename__ = "categories"

    id: int | None = id_field()
    name: str = Field(max_length=50)
    parent_id: int | None = ref_field("categories.id", index=True, nullable=True)
    sort_order: int = 0
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
