"""Payments as the provider reported them (one row per provider transaction id), the orders we opened at the
provider, the notifications it sent, the refunds we asked it for, and the daily reconciliation of its bills."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index
from sqlmodel import Field

from services.common.db import id_field, ref_field, timestamp_field
from services.common.sql import enum_field
from services.orders.db import OrdersBase


class PaymentStatus(StrEnum):
    CAPTURED = "captured"  # paid an order that was waiting for it
    REFUND_PENDING = "refund_pending"  # arrived for an order that was no longer waiting (cancelled, paid already)
    REFUNDED = "refunded"  # given back in full through the provider
    REFUND_FAILED = "refund_failed"  # the provider refused the refund after every attempt: staff must act


class PaymentSource(StrEnum):
    """Who told us about the payment: the provider (a notification, or our query when one was lost) or the
    development shortcut. Reconciliation compares only the provider's payments with its bill."""

    PROVIDER = "provider"
    DEV = "dev"


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
    #: When the provider says the customer paid (its `success_time`); the day of the bill the payment is on.
    paid_at: datetime | None = timestamp_field(nullable=True, index=True)
    source: PaymentSource = enum_field(PaymentSource, max_length=16, default=PaymentSource.PROVIDER)


class TradeStatus(StrEnum):
    """Our order at the provider: open (payable) → paid, or → closing (the order was cancelled) → closed."""

    OPEN = "open"
    PAID = "paid"
    CLOSED = "closed"


class ProviderTrade(OrdersBase, table=True):
    """The provider's order for one of ours (WeChat's prepay): created once, reused while it is valid, closed when
    our order is cancelled so it can no longer be paid."""

    __tablename__ = "provider_trades"
    __table_args__ = (Index("ix_provider_trades_status_id", "status", "id"),)

    id: int | None = id_field()
    order_id: int = Field(foreign_key="orders.id", unique=True)
    out_trade_no: str = Field(max_length=32, unique=True)
    provider: str = Field(max_length=16)
    prepay_id: str = Field(max_length=64)
    payer_openid: str = Field(max_length=128)
    amount_fen: int = Field(sa_type=BigInteger)
    status: TradeStatus = enum_field(TradeStatus, max_length=16, default=TradeStatus.OPEN)
    prepay_expires_at: datetime = timestamp_field()
    close_attempts: int = Field(default=0)
    close_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class NotificationOutcome(StrEnum):
    PAID = "paid"  # the order became paid
    LATE = "late"  # money for an order no longer waiting: recorded to be refunded
    DUPLICATE = "duplicate"  # the transaction was known already
    AMOUNT_MISMATCH = "amount_mismatch"  # paid another amount than the order asks: recorded to be refunded
    UNKNOWN_ORDER = "unknown_order"  # names no order of ours: for staff
    REFUND_SUCCEEDED = "refund_succeeded"
    REFUND_FAILED = "refund_failed"
    UNKNOWN_REFUND = "unknown_refund"
    IGNORED = "ignored"  # an event type we do not act on


class PaymentNotification(OrdersBase, table=True):
    """Every verified notification, once per notification id: a replay only counts another delivery."""

    __tablename__ = "payment_notifications"

    id: int | None = id_field()
    notification_id: str = Field(max_length=64, unique=True)
    event_type: str = Field(max_length=40)
    reference: str = Field(max_length=64, index=True)  # out_trade_no or out_refund_no
    transaction_id: str | None = Field(default=None, max_length=64)
    amount_fen: int | None = Field(default=None, sa_type=BigInteger)
    outcome: NotificationOutcome = enum_field(NotificationOutcome, max_length=20)
    note: str | None = Field(default=None, max_length=200)
    deliveries: int = Field(default=1)
    received_at: datetime = timestamp_field()
    last_received_at: datetime = timestamp_field()


class RefundAttemptStatus(StrEnum):
    """pending (being sent, retried with backoff) → processing (the provider accepted) → succeeded; failed when
    every attempt failed or the provider gave up: parked for staff, who may retry."""

    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProviderRefund(OrdersBase, table=True):
    """One refund asked of the provider, by its `out_refund_no` (unique, so it is asked once however often the
    sender runs): a late payment given back (`payment_id` only) or a refund of order lines (`refund_id`)."""

    __tablename__ = "provider_refunds"
    __table_args__ = (Index("ix_provider_refunds_status_id", "status", "id"),)

    id: int | None = id_field()
    out_refund_no: str = Field(max_length=64, unique=True)
    payment_id: int = ref_field("payments.id", index=True)
    refund_id: int | None = ref_field("refunds.id", nullable=True)
    transaction_id: str = Field(max_length=64)
    amount_fen: int = Field(sa_type=BigInteger)
    total_fen: int = Field(sa_type=BigInteger)
    status: RefundAttemptStatus = enum_field(RefundAttemptStatus, max_length=16, default=RefundAttemptStatus.PENDING)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = timestamp_field()
    last_error: str | None = Field(default=None, max_length=200)
    provider_refund_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
    succeeded_at: datetime | None = timestamp_field(nullable=True)


class BillKind(StrEnum):
    TRADE = "trade"
    REFUND = "refund"


class BillDifferenceKind(StrEnum):
    MISSING_ON_OUR_SIDE = "missing_on_our_side"  # the provider has it, we do not
    MISSING_AT_PROVIDER = "missing_at_provider"  # we have it, the provider's bill does not
    AMOUNT_MISMATCH = "amount_mismatch"


class ReconciliationStatus(StrEnum):
    MATCHED = "matched"
    DIFFERENCES = "differences"


class PaymentReconciliation(OrdersBase, table=True):
    """The comparison of one business day's provider bills with our payments and refunds (run again: replaced)."""

    __tablename__ = "payment_reconciliations"

    id: int | None = id_field()
    bill_date: date = Field(unique=True)
    status: ReconciliationStatus = enum_field(ReconciliationStatus, max_length=16)
    provider: str = Field(max_length=16)
    trade_lines: int
    refund_lines: int
    our_payments: int
    our_refunds: int
    differences: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = timestamp_field()
