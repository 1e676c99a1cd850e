from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.responses import JSONResponse, Response

from services.common import audit
from services.common.app import NowDep
from services.common.auth import CurrentUser, InvalidToken, MissingPermission, Principal, require_permission
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.pagination import InvalidCursor, Page
from services.common.permissions import Permission
from services.common.types import INT64_MAX, Day
from services.orders.db import outbox
from services.orders.deps import (
    DatabaseDep,
    PayersDep,
    PaymentProviderDep,
    RefundProviderDep,
    SettingsDep,
)
from services.orders.orders.exceptions import NotOrderOwner, OrderNotFound
from services.orders.payment_provider import NotificationRejected
from services.orders.payments import jobs, reconciliation, repository, service
from services.orders.payments.exceptions import (
    AmountMismatch,
    DevPaymentsDisabled,
    InvalidSignature,
    NotificationEndpointOff,
    OrderNotPayable,
    PaymentOrderNotFound,
    PaymentProviderUnavailable,
    ProviderRefundNotFound,
    ReconciliationFailed,
    ReconciliationNotFound,
    RefundNotParked,
    TransactionConflict,
)
from services.orders.payments.schemas import (
    NotificationFilters,
    NotificationRead,
    PaymentFilters,
    PaymentNotification,
    PaymentParameters,
    PaymentRead,
    ProviderRefundFilters,
    ProviderRefundRead,
    ReconciliationRead,
    RefundRunResult,
)

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])
order_payment_router = APIRouter(tags=["payments"])
dev_router = APIRouter(prefix="/api/v1/dev", tags=["development"])

RefundStaff = Annotated[Principal, Depends(require_permission(Permission.REFUNDS_DECIDE))]
ReconcilingStaff = Annotated[Principal, Depends(require_permission(Permission.PAYMENTS_RECONCILE))]
OrderId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Order id")]
BillDate = Annotated[Day, Path(description="Business day (YYYY-MM-DD, business time zone)")]


@order_payment_router.post(
    "/api/v1/orders/{order_id}/payment",
    response_model=PaymentParameters,
    summary="Pay an order: the mini-program's `wx.requestPayment` parameters (its customer)",
    responses=problem_docs(InvalidToken, OrderNotFound, NotOrderOwner, OrderNotPayable, PaymentProviderUnavailable),
)
async def create_payment(
    order_id: OrderId,
    session: SessionDep,
    user: CurrentUser,
    provider: PaymentProviderDep,
    payers: PayersDep,
    now: NowDep,
) -> PaymentParameters:
    """Opens the order with the payment provider (WeChat Pay JSAPI) once; asking again reuses that prepay while it
    is valid, with a fresh signature. The provider refuses payment once the order's payment time is over."""
    return await service.create_payment(
        session, order_id=order_id, user=user, provider=provider, payers=payers, now=now
    )


def _wechat_answer(status: int, message: str) -> Response:
    # WeChat retries a notification answered with 4xx/5xx and this body; 2xx ends its retries.
    return JSONResponse({"code": "FAIL", "message": message}, status_code=status)


@router.post(
    "/wechat/notify",
    status_code=204,
    summary="WeChat Pay notification: payments and refunds (called by WeChat Pay)",
    responses={
        **problem_docs(NotificationEndpointOff),
        401: {"description": "The signature, key serial, age or encryption is wrong; nothing was done"},
    },
)
async def wechat_notify(
    request: Request, session: SessionDep, settings: SettingsDep, provider: PaymentProviderDep, now: NowDep
) -> Response:
    """Verified against the platform key (serial checked, at most five minutes old), decrypted with the API v3
    key, applied once per notification id: a replay, a payment for an unknown order or of a wrong amount is
    answered 204 and recorded (`GET /api/v1/payments/notifications`); wrong amounts and late payments are refunded."""
    if settings.payment_provider != "wechat":
        raise NotificationEndpointOff("ORDERS_PAYMENT_PROVIDER is not wechat")
    body = await request.body()
    try:
        notice = provider.open_notification(request.headers, body, now=now)
    except NotificationRejected as exc:
        service.log.warning("notification refused", extra={"reason": str(exc)})
        return _wechat_answer(401, "signature verification failed")
    if notice is not None:
        await service.apply_notice(session, notice=notice, now=now)
    return Response(status_code=204)


@router.post(
    "/notify",
    response_model=PaymentRead,
    summary="Payment notification of the development provider (HMAC-signed)",
    responses=problem_docs(
        InvalidSignature, AmountMismatch, PaymentOrderNotFound, TransactionConflict, NotificationEndpointOff
    ),
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
    """Only with `ORDERS_PAYMENT_PROVIDER=fake`. Body `{"order_id", "transaction_id", "amount_fen"}` signed with hex
    HMAC-SHA256 of the raw body in `X-Payment-Signature` (key `ORDERS_PAYMENT_SECRET`). Idempotent per
    `transaction_id`; a payment for an order no longer waiting is recorded as `refund_pending` and refunded.
    `POST /api/v1/dev/orders/{id}/pay` does the same without a signature."""
    if settings.payment_provider != "fake":
        raise NotificationEndpointOff("ORDERS_PAYMENT_PROVIDER is not fake")
    raw = await request.body()
    return await service.record_notification(
        session, raw_body=raw, signature=signature, secret=settings.payment_secret, now=now
    )


@dev_router.post(
    "/orders/{order_id}/pay",
    response_model=PaymentRead,
    summary="Mark an order paid, as a verified notification would (its customer; development only)",
    responses=problem_docs(InvalidToken, DevPaymentsDisabled, OrderNotFound, NotOrderOwner, OrderNotPayable),
)
async def dev_pay(
    order_id: OrderId, session: SessionDep, settings: SettingsDep, user: CurrentUser, now: NowDep
) -> PaymentRead:
    """Served only with `ORDERS_DEV_PAYMENTS=true` (`make run` sets it; production refuses it): goes through the
    same code as a verified payment notification, without computing a signature."""
    if not settings.dev_payments:
        raise DevPaymentsDisabled()
    return await service.dev_pay(session, order_id=order_id, user=user, now=now)


@router.get(
    "",
    response_model=Page[PaymentRead],
    summary="List payments (staff: payments.reconcile), e.g. `status=refund_pending` or `status=refunded`",
    responses=problem_docs(InvalidToken, MissingPermission, InvalidCursor),
)
async def list_payments(
    session: SessionDep,
    user: ReconcilingStaff,
    filters: Annotated[PaymentFilters, Query()],
) -> Page[PaymentRead]:
    return await service.list_payments(
        session, page=filters.page_params(), status=filters.status, order_id=filters.order_id
    )


@router.get(
    "/notifications",
    response_model=Page[NotificationRead],
    summary="Verified provider notifications, newest first, e.g. `outcome=unknown_order` (finance)",
    responses=problem_docs(InvalidToken, MissingPermission, InvalidCursor),
)
async def list_notifications(
    session: SessionDep, user: ReconcilingStaff, filters: Annotated[NotificationFilters, Query()]
) -> Page[NotificationRead]:
    return await service.list_notifications(session, page=filters.page_params(), outcome=filters.outcome)


@router.post(
    "/refunds/run",
    response_model=RefundRunResult,
    summary="Send pending refunds to the payment provider now (staff: refunds.decide)",
    responses=problem_docs(InvalidToken, MissingPermission),
)
async def run_refunds(
    db: DatabaseDep, user: RefundStaff, provider: RefundProviderDep, settings: SettingsDep, now: NowDep
) -> RefundRunResult:
    """The refund sender also runs every `ORDERS_REFUND_INTERVAL_SECONDS`; this run also sends refunds waiting out
    their backoff after a failed attempt."""
    result = await jobs.send_pending_refunds(
        db, provider, now=now, max_attempts=settings.refund_max_attempts,
        retry_base_seconds=settings.refund_interval_seconds, now_or_backoff=True,
    )  # fmt: skip
    await audit.record_run(
        db, outbox, actor=user, action="refunds.sent", target=("refund_run", now.isoformat()), result=result, at=now
    )
    return result


@router.get(
    "/refunds",
    response_model=Page[ProviderRefundRead],
    summary="Refunds asked of the provider, newest first; `status=failed` lists those parked for staff "
    "(staff: refunds.decide)",
    responses=problem_docs(InvalidToken, MissingPermission, InvalidCursor),
)
async def list_provider_refunds(
    session: SessionDep, user: RefundStaff, filters: Annotated[ProviderRefundFilters, Query()]
) -> Page[ProviderRefundRead]:
    return await service.list_provider_refunds(session, page=filters.page_params(), status=filters.status)


@router.post(
    "/refunds/{provider_refund_id}/retry",
    response_model=ProviderRefundRead,
    summary="Send a parked refund again (staff: refunds.decide)",
    responses=problem_docs(InvalidToken, MissingPermission, ProviderRefundNotFound, RefundNotParked),
)
async def retry_refund(
    provider_refund_id: Annotated[int, Path(ge=1, le=INT64_MAX)], session: SessionDep, user: RefundStaff, now: NowDep
) -> ProviderRefundRead:
    """Same `out_refund_no` as before, so the provider never pays it twice; the refund sender sends it on its next
    run. A refund WeChat reported ABNORMAL (the customer's card is gone) is settled in the merchant platform."""
    return await service.retry_parked_refund(session, provider_refund_id=provider_refund_id, by=user.sub, now=now)


@router.get(
    "/reconciliations/{bill_date}",
    response_model=ReconciliationRead,
    summary="The day's provider bills against our payments and refunds: every difference (staff: payments.reconcile)",
    responses=problem_docs(InvalidToken, MissingPermission, ReconciliationNotFound),
)
async def get_reconciliation(bill_date: BillDate, session: SessionDep, user: ReconcilingStaff) -> ReconciliationRead:
    """Made every day once the provider's bills are out (`ORDERS_RECONCILIATION_AFTER`), or on demand by the POST."""
    report = await repository.get_reconciliation(session, bill_date)
    if report is None:
        raise ReconciliationNotFound(f"{bill_date.isoformat()} has not been reconciled")
    return ReconciliationRead.model_validate(report)


@router.post(
    "/reconciliations/{bill_date}",
    response_model=ReconciliationRead,
    summary="Reconcile a day now, replacing its report (staff: payments.reconcile)",
    responses=problem_docs(InvalidToken, MissingPermission, ReconciliationFailed),
)
async def run_reconciliation(
    bill_date: BillDate,
    db: DatabaseDep,
    user: ReconcilingStaff,
    provider: PaymentProviderDep,
    settings: SettingsDep,
    now: NowDep,
) -> ReconciliationRead:
    report = await reconciliation.reconcile(db, provider, bill_date=bill_date, tz=settings.tz, now=now)
    await audit.record_run(
        db, outbox, actor=user, action="payments.reconciled", target=("bill_date", bill_date.isoformat()),
        result=report.model_dump(exclude={"differences"}) | {"differences": len(report.differences)}, at=now,
    )  # fmt: skip
    return report
