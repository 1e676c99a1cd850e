"""Payments as the provider reported them: one row per provider transaction id."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index
from sqlmodel import Field

from services.common.db import timestamp_field
from services.common.sql import enum_field
from services.orders.db import OrdersBase


class PaymentStatus(StrEnum):
    CAPTURED = "captured"  # paid an order that was waiting for it
    REFUND_PENDING = "refund_pending"  # arrived for an order that was no longer waiting (cancelled, paid already)
    REFUNDED = "refunded"  # given back in full through the provider


class Payment(OrdersBase, table=True):
    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_status_id", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: str = Field(max_length=64, unique=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    amount_fen: int = Field(sa_type=BigInteger)
    status: PaymentStatus = enum_field(PaymentStatus, max_length=16)
    note: str | None = Field(default=None, max_length=200)
    provider_refund_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = timestamp_field()
    refunded_at: datetime | None = timestamp_field(nullable=True)
