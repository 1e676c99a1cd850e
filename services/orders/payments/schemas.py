from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.pagination import ListQuery
from services.common.types import INT64_MAX, Fen, Id
from services.orders.payments.models import PaymentStatus

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


class RefundRunResult(BaseModel):
    payments_refunded: int
    refunds_sent: int
    failures: int


class PaymentFilters(ListQuery):
    status: PaymentStatus | None = Field(default=None, description="e.g. `refund_pending` or `refunded`")
    order_id: Annotated[int, Field(ge=1, le=INT64_MAX)] | None = None
