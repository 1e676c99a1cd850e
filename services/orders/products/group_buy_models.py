"""The tables of group-buys (团购活动): a sale day of chosen products or SKUs at a group-buy price, ordered within a
window and picked up on one date, in some regions, with a per-customer limit and a minimum per community.

They sit with the products, below the orders: order creation reads an item's terms and counts a customer's units
against the limit (`services.orders.inventory`), while the rules that cancel orders at the close
(`services.orders.group_buys`) sit above the orders.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field

from services.common.db import BIGINT_ID, id_field, ref_field, timestamp_field
from services.orders.db import OrdersBase


class GroupBuy(OrdersBase, table=True):
    __tablename__ = "group_buys"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window_not_empty"),
        Index("ix_group_buys_pickup_date", "pickup_date"),
        Index("ix_group_buys_ends_at", "ends_at"),
    )

    id: int | None = id_field()
    title: str = Field(max_length=100)
    starts_at: datetime = timestamp_field()
    ends_at: datetime = timestamp_field()
    pickup_date: date
    #: Local times (business time zone) of the pickup window on `pickup_date`, "HH:MM".
    pickup_starts: str = Field(max_length=5)
    pickup_ends: str = Field(max_length=5)
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp_field()
    #: Set once the close job has settled every community's minimums (成团) after `ends_at`.
    closed_at: datetime | None = timestamp_field(nullable=True)


class GroupBuyRegion(OrdersBase, table=True):
    """A region the group-buy serves: a city ("上海市", every district of it) or a district ("上海市/浦东新区")."""

    __tablename__ = "group_buy_regions"
    __table_args__ = (Index("ix_group_buy_regions_region", "region"),)

    group_buy_id: int = Field(
        sa_type=BIGINT_ID, foreign_key="group_buys.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    region: str = Field(max_length=60, primary_key=True)


class GroupBuyItem(OrdersBase, table=True):
    """A product (or one SKU of it) in a group-buy, at the group-buy price."""

    __tablename__ = "group_buy_items"
    __table_args__ = (
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
        CheckConstraint("per_customer_limit IS NULL OR per_customer_limit >= 1", name="limit_positive"),
        CheckConstraint("min_per_community IS NULL OR min_per_community >= 1", name="minimum_positive"),
        Index("ix_group_buy_items_product_id", "product_id"),
    )

    id: int | None = id_field()
    group_buy_id: int = ref_field("group_buys.id", index=True)
    product_id: int = ref_field("products.id")
    sku_id: int | None = ref_field("product_skus.id", nullable=True)
    price_fen: int = Field(sa_type=BigInteger)
    #: Units one customer may buy of this product in this group-buy (all its SKUs together); None: no limit.
    per_customer_limit: int | None = None
    #: Units a community (one leader's orders) must reach for the product to be delivered there (成团); None: none.
    min_per_community: int | None = None


class GroupBuyQuota(OrdersBase, table=True):
    """Units a customer holds of a product in a group-buy (pending or paid orders). Unique per (group-buy, product,
    customer): the guard that keeps the per-customer limit under concurrency, like the flash-sale buyer quota."""

    __tablename__ = "group_buy_quotas"
    __table_args__ = (
        UniqueConstraint("group_buy_id", "product_id", "customer_id"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: int | None = id_field()
    group_buy_id: int = ref_field("group_buys.id")
    product_id: int = Field(sa_type=BIGINT_ID)
    customer_id: str = Field(max_length=64)
    quantity: int
    updated_at: datetime = timestamp_field()


class GroupBuyOutcome(OrdersBase, table=True):
    """The close's decision for one community and one product of a group-buy, written once: whether it reached the
    minimum, and if not how many orders were cancelled or refunded. The unique key makes the close idempotent."""

    __tablename__ = "group_buy_outcomes"
    __table_args__ = (UniqueConstraint("group_buy_id", "product_id", "leader_id"),)

    id: int | None = id_field()
    group_buy_id: int = ref_field("group_buys.id")
    product_id: int = Field(sa_type=BIGINT_ID)
    leader_id: str = Field(max_length=64)
    quantity: int
    minimum: int
    reached: bool
    orders_affected: int = 0
    decided_at: datetime = timestamp_field()
