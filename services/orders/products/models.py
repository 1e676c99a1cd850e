"""Products, their SKUs (specifications with their own price and stock), price history and the name index of short
searches."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field

from services.common.db import BIGINT_ID, id_field, ref_field, timestamp_field
from services.common.sql import enum_field
from services.orders.db import OrdersBase


class ProductStatus(StrEnum):
    """on_shelf: customers see and order it; off_shelf: hidden for now; archived: gone for good (never deleted, so
    old orders keep their product)."""

    ON_SHELF = "on_shelf"
    OFF_SHELF = "off_shelf"
    ARCHIVED = "archived"


class Product(OrdersBase, table=True):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
        Index("ix_products_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    #: The price and stock of a product without SKUs; with SKUs, each SKU has its own.
    price_fen: int = Field(sa_type=BigInteger)
    stock: int = Field(sa_type=BigInteger)
    category: str | None = Field(default=None, max_length=50, index=True)
    category_id: int | None = ref_field("categories.id", index=True, nullable=True)
    image_url: str | None = Field(default=None, max_length=500)
    images: list[str] = Field(default_factory=list, sa_type=JSON)
    description: str | None = Field(default=None, max_length=2000)
    unit: str | None = Field(default=None, max_length=10)
    origin: str | None = Field(default=None, max_length=50)
    status: ProductStatus = enum_field(ProductStatus, max_length=12, default=ProductStatus.ON_SHELF)
    #: What the platform pays for one unit: staff only, snapshotted on order lines for margin commission.
    cost_fen: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class ProductSku(OrdersBase, table=True):
    """One specification of a product (5斤装, 一箱12个): its own price, cost and stock."""

    __tablename__ = "product_skus"
    __table_args__ = (
        UniqueConstraint("product_id", "name"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
    )

    id: int | None = id_field()
    product_id: int = ref_field("products.id", index=True)
    name: str = Field(max_length=50)
    price_fen: int = Field(sa_type=BigInteger)
    cost_fen: int | None = Field(default=None, sa_type=BigInteger)
    stock: int = Field(sa_type=BigInteger)
    on_sale: bool = True
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class PriceChange(OrdersBase, table=True):
    """A price or cost price as it was set, by whom, when; never edited."""

    __tablename__ = "price_changes"
    __table_args__ = (Index("ix_price_changes_product_id_id", "product_id", "id"),)

    id: int | None = id_field()
    product_id: int = Field(sa_type=BIGINT_ID)
    sku_id: int | None = Field(default=None, sa_type=BIGINT_ID)
    price_fen: int = Field(sa_type=BigInteger)
    cost_fen: int | None = Field(default=None, sa_type=BigInteger)
    changed_by: str = Field(max_length=64)
    changed_at: datetime = timestamp_field()


class ProductNameGram(OrdersBase, table=True):
    """Every 1- and 2-character piece of a product's name (lower-cased): what a 1–2 character search looks up, which
    trigram indexes cannot serve. Rewritten with the name."""

    __tablename__ = "product_name_grams"

    gram: str = Field(max_length=2, primary_key=True)
    product_id: int = Field(sa_type=BIGINT_ID, primary_key=True, sa_column_kwargs={"autoincrement": False})
