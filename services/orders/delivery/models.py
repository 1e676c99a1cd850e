"""Delivery batches: the paid orders of one leader's pickup point for one pickup date, with a pick list."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, UniqueConstraint
from sqlmodel import Field

from services.common.db import timestamp_field
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
