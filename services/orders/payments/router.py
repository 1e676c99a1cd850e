from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request

from services.common.app import NowDep
from services.common.auth import InvalidToken, MissingPermission, Principal, require_permission
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.pagination import InvalidCursor, Page, PageDep
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.deps import DatabaseDep, RefundProviderDep, SettingsDep
from services.orders.payments import jobs, service
from services.orders.payments.exceptions import (
    AmountMismatch,
    InvalidSignature,
    PaymentOrderNotFound,
    TransactionConflict,
)
from services.orders.payments.models import PaymentStatus
from services.orders.payments.schemas import PaymentNotification, PaymentRead, RefundRunResult

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])


PaymentsStaff = Annotated[Principal, Depends(require_permission(Permission.PAYMENTS_RECONCILE))]
RefundsStaff = Annotated[Principal, Depends(require_permission(Permission.REFUNDS_DECIDE))]


@router.post(
    "/notify",
    response_model=PaymentRead,
    summary="Payment notification (the payment provider)",
    responses=problem_docs(InvalidSignature, AmountMismatch, PaymentOrderNotFound, TransactionConflict),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PaymentNotification.model_json_schema()}},
        }
    },
)
async def notify(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    signature: Annotated[str | None, Header(alias="X-Payment-Signature", max_length=128)] = None,
) -> PaymentRead:
    """Body `{"order_id", "transaction_id", "amount_fen"}` signed with hex HMAC-SHA256 of the raw body in
    `X-Payment-Signature`. Idempotent per `transaction_id`; a payment for an order no longer waiting is recorded
    as `refund_pending` and refunded."""
    raw = await request.body()
    return await service.record_notification(
        session, raw_body=raw, signature=signature, secret=settings.payment_secret, now=now
    )


@router.get(
    "",
    response_model=Page[PaymentRead],
    summary="List payments (staff: payments.reconcile), e.g. `status=refund_pending` or `status=refunded`",
    responses=problem_docs(InvalidToken, MissingPermission, InvalidCursor),
)
async def list_payments(
    session: SessionDep,
    user: PaymentsStaff,
    page: PageDep,
    status: PaymentStatus | None = None,
    order_id: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
) -> Page[PaymentRead]:
    return await service.list_payments(session, page=page, status=status, order_id=order_id)


@router.post(
    "/refunds/run",
    response_model=RefundRunResult,
    summary="Send pending refunds to the payment provider now (staff: refunds.decide)",
    responses=problem_docs(InvalidToken, MissingPermission),
)
async def run_refunds(db: DatabaseDep, user: RefundsStaff, provider: RefundProviderDep, now: NowDep) -> RefundRunResult:
    """The refund sender also runs every `ORDERS_REFUND_INTERVAL_SECONDS`."""
    return await jobs.send_pending_refunds(db, provider, now=now)
