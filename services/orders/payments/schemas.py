from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.pagination import ListQuery
from services.common.types import INT64_MAX, Fen, Id
from services.orders.payments.models import (
    BillDifferenceKind,
    BillKind,
    NotificationOutcome,
    PaymentSource,
    PaymentStatus,
    ReconciliationStatus,
    RefundAttemptStatus,
)

TransactionId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class PaymentNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    order_id: Id
    transaction_id: TransactionId
    amount_fen: Fen


class PaymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    transaction_id: str
    order_id: int
    amount_fen: int
    status: PaymentStatus
    note: str | None
    provider_refund_id: str | None
    created_at: datetime
    refunded_at: datetime | None
    paid_at: datetime | None
    source: PaymentSource


class RefundRunResult(BaseModel):
    payments_refunded: int
    refunds_sent: int
    failures: int


class PaymentParameters(BaseModel):
    """What the mini-program passes to `wx.requestPayment` (WeChat's names), and the ids behind them."""

    order_id: int
    out_trade_no: str
    prepay_id: str
    appId: str
    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    notification_id: str
    event_type: str
    reference: str
    transaction_id: str | None
    amount_fen: int | None
    outcome: NotificationOutcome
    note: str | None
    deliveries: int
    received_at: datetime
    last_received_at: datetime


class ProviderRefundRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    out_refund_no: str
    payment_id: int
    refund_id: int | None
    transaction_id: str
    amount_fen: int
    status: RefundAttemptStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    provider_refund_id: str | None
    created_at: datetime
    succeeded_at: datetime | None


class ReconciliationDifference(BaseModel):
    bill: BillKind
    kind: BillDifferenceKind
    reference: str  # out_trade_no or out_refund_no
    provider_id: str | None  # the provider's transaction or refund id
    our_fen: int | None
    provider_fen: int | None


class ReconciliationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    bill_date: date
    status: ReconciliationStatus
    provider: str
    trade_lines: int
    refund_lines: int
    our_payments: int
    our_refunds: int
    differences: list[ReconciliationDifference]
    created_at: datetime


class NotificationFilters(ListQuery):
    outcome: NotificationOutcome | None = Field(default=None, description="e.g. `unknown_order`, `wrong_amount`")


class ProviderRefundFilters(ListQuery):
    status: RefundAttemptStatus | None = Field(default=None, description="`failed`: parked for staff")


class PaymentFilters(ListQuery):
    status: PaymentStatus | None = Field(default=None, description="e.g. `refund_pending` or `refunded`")
    order_id: Annotated[int, Field(ge=1, le=INT64_MAX)] | None = None
