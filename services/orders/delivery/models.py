"""Delivery batches: the paid orders of one leader's pickup point for one pickup date, with a pick list."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, UniqueConstraint
from sqlmodel import Field

from services.common.db import id_field, ref_field, timestamp_field
from services.common.sql import enum_field
from services.orders.db import OrdersBase


class DeliveryBatchStatus(StrEnum):
    """in_transit until the leader confirms the goods reached the pickup point: received."""

    IN_TRANSIT = "in_transit"
    RECEIVED = "received"


class DeliveryBatch(OrdersBase, table=True):
    __tablename__ = "delivery_batches"
    __table_args__ = (UniqueConstraint("leader_id", "pickup_date"),)

    id: int | None = Field(default=None, primary_key=True)
    leader_id: str = Field(max_length=64, index=True)
    #: The local date of the cut-off that opened the batch.
    cutoff_date: date
    #: The local date its orders are picked up: one batch per leader and pickup date.
    pickup_date: date = Field(index=True)
    status: DeliveryBatchStatus = enum_field(DeliveryBatchStatus, max_length=16, default=DeliveryBatchStatus.IN_TRANSIT)
    order_count: int = Field(default=0)
    created_at: datetime = timestamp_field()
    received_at: datetime | None = timestamp_field(nullable=True)
    received_by: str | None = Field(default=None, max_length=64)


class DeliveryBatchItem(OrdersBase, table=True):
    """One pick-list row: how many units of a product go to the batch's pickup point."""

    __tablename__ = "delivery_batch_items"
    __table_args__ = (UniqueConstraint("batch_id", "product_id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="delivery_batches.id")
    product_id: int
    product_name: str = Field(max_length=100)
    quantity: int = Field(sa_type=BigInteger)


class ShortageKind(StrEnum):
    MISSING = "missing"
    DAMAGED = "damaged"


class DeliveryShortage(OrdersBase, table=True):
    """Units of a product the leader found missing or damaged when the batch arrived, and what was refunded for
    them. `reported_on` is the local date of the receipt: the day of the warehouse's follow-up report."""

    __tablename__ = "delivery_shortages"
    __table_args__ = (
        UniqueConstraint("batch_id", "product_id", "kind"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refunded_within_reported"),
    )

    id: int | None = id_field()
    batch_id: int = ref_field("delivery_batches.id")
    leader_id: str = Field(max_length=64)
    reported_on: date = Field(index=True)
    product_id: int
    product_name: str = Field(max_length=100)
    kind: ShortageKind = enum_field(ShortageKind, max_length=16)
    quantity: int
    #: Units refunded automatically; the rest were held by open after-sale requests, which staff decide.
    refunded_quantity: int = 0
    refund_fen: int = Field(default=0, sa_type=BigInteger)
    reported_by: str = Field(max_length=64)
    created_at: datetime = timestamp_field()


class DeliveryShortageRefund(OrdersBase, table=True):
    """Which units of which order line a shortage refunded (the allocation rule's outcome)."""

    __tablename__ = "delivery_shortage_refunds"

    id: int | None = id_field()
    shortage_id: int = ref_field("delivery_shortages.id", index=True)
    order_id: int = ref_field("orders.id", index=True)
    line_id: int = ref_field("order_lines.id")
    quantity: int
    refund_fen: int = Field(sa_type=BigInteger)
    refund_id: int = ref_field("refunds.id")
