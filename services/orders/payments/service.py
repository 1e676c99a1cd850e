"""Payments: orders opened with the provider, its notifications, the development shortcut, and refunds through it.

Every way we learn of a payment (a verified notification, our query when one was lost, the development endpoint)
ends in `apply_verified_payment`, which accepts it once per provider transaction id (unique key). If its order is
still waiting, the order becomes paid. If not (cancelled, or paid by another transaction), the money is recorded as
`refund_pending` and the refund sender pays it back: a late payment never revives an order and never takes stock.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.common.auth import Principal
from services.common.errors import InvalidInput
from services.common.pagination import Page, PageParams
from services.orders.aftersales import service as aftersales_service
from services.orders.db import outbox
from services.orders.orders import repository as orders_repository
from services.orders.orders import service as orders_service
from services.orders.orders.access import order_for_customer
from services.orders.orders.models import Order, OrderStatus, RefundProviderStatus
from services.orders.payment_provider import (
    PayerDirectory,
    PaymentNotice,
    PaymentProvider,
    ProviderError,
    RefundNotice,
    RefundReceipt,
    RefundState,
    signature_is_valid,
)
from services.orders.payments import repository
from services.orders.payments.exceptions import (
    AmountMismatch,
    InvalidSignature,
    OrderNotPayable,
    PaymentOrderNotFound,
    PaymentProviderUnavailable,
    ProviderRefundNotFound,
    RefundNotParked,
    TransactionConflict,
)
from services.orders.payments.models import (
    NotificationOutcome,
    Payment,
    PaymentNotification,
    PaymentSource,
    PaymentStatus,
    ProviderRefund,
    ProviderTrade,
    RefundAttemptStatus,
    TradeStatus,
)
from services.orders.payments.schemas import (
    NotificationRead,
    PaymentParameters,
    PaymentRead,
    ProviderRefundRead,
)
from services.orders.payments.schemas import (
    PaymentNotification as HmacNotification,
)

log = logging.getLogger("services.orders.payments")

#: A prepay is reused while it stays valid this much longer (WeChat keeps one for two hours).
PREPAY_REUSE_MARGIN = timedelta(minutes=5)
PREPAY_VALIDITY = timedelta(hours=2)


# -- applying a payment ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppliedPayment:
    payment: PaymentRead
    outcome: NotificationOutcome


def _same(payment: Payment, *, order_id: int, amount_fen: int, transaction_id: str) -> PaymentRead:
    if payment.order_id != order_id or payment.amount_fen != amount_fen:
        raise TransactionConflict(f"Transaction {transaction_id} was reported with other values")
    return PaymentRead.model_validate(payment)


async def apply_verified_payment(
    session: AsyncSession,
    *,
    order_id: int,
    transaction_id: str,
    amount_fen: int,
    paid_at: datetime | None,
    source: PaymentSource,
    now: datetime,
    refuse_wrong_amount: bool = False,
) -> AppliedPayment:
    """Record a payment the provider (or the development shortcut) vouches for, once per `transaction_id`.

    A wrong amount is recorded to be refunded (the money was taken; WeChat must not be told to send it again), or
    refused with `AmountMismatch` when `refuse_wrong_amount` (the development notification format).
    """
    existing = await repository.get_by_transaction(session, transaction_id)
    if existing is not None:
        read = _same(existing, order_id=order_id, amount_fen=amount_fen, transaction_id=transaction_id)
        return AppliedPayment(read, NotificationOutcome.DUPLICATE)
    order = await orders_repository.get_order(session, order_id)
    if order is None:
        raise PaymentOrderNotFound(f"Order {order_id} does not exist")
    wrong_amount = amount_fen != order.payable_fen
    if wrong_amount and refuse_wrong_amount:
        raise AmountMismatch(f"Order {order_id} asks for {order.payable_fen} fen, {amount_fen} were paid")

    payment = Payment(
        transaction_id=transaction_id,
        order_id=order_id,
        amount_fen=amount_fen,
        status=PaymentStatus.REFUND_PENDING if wrong_amount else PaymentStatus.CAPTURED,
        note=f"paid {amount_fen} fen, the order asks for {order.payable_fen}" if wrong_amount else None,
        created_at=now,
        paid_at=paid_at or now,
        source=source,
    )
    if not await repository.insert_payment(session, payment):
        # A parallel delivery of the same payment won the unique key; answer as it did.
        existing = await repository.get_by_transaction(session, transaction_id)
        assert existing is not None
        read = _same(existing, order_id=order_id, amount_fen=amount_fen, transaction_id=transaction_id)
        return AppliedPayment(read, NotificationOutcome.DUPLICATE)
    # Paid: there is nothing left to close at the provider, whatever happens to the order now.
    await repository.set_trade_status(
        session, order_id=order_id, expected=TradeStatus.OPEN, status=TradeStatus.PAID, now=now
    )
    if wrong_amount:
        log.warning(
            "payment of the wrong amount; will be refunded",
            extra={"order_id": order_id, "transaction_id": transaction_id, "amount_fen": amount_fen},
        )
        return AppliedPayment(PaymentRead.model_validate(payment), NotificationOutcome.AMOUNT_MISMATCH)
    if await orders_service.mark_paid(session, order=order, transaction_id=transaction_id, now=now):
        return AppliedPayment(PaymentRead.model_validate(payment), NotificationOutcome.PAID)
    current = await orders_repository.get_order(session, order_id)
    state = current.status if current is not None else "gone"
    payment.status = PaymentStatus.REFUND_PENDING
    payment.note = f"order was {state} when the payment arrived"
    session.add(payment)
    await session.flush()
    log.warning(
        "payment for an order not waiting for it; will be refunded",
        extra={"order_id": order_id, "transaction_id": transaction_id, "order_status": state},
    )
    return AppliedPayment(PaymentRead.model_validate(payment), NotificationOutcome.LATE)


async def record_notification(
    session: AsyncSession, *, raw_body: bytes, signature: str | None, secret: str, now: datetime
) -> PaymentRead:
    """The development provider's notification: HMAC-signed JSON naming the order directly."""
    # The signature covers the exact bytes received, so it is checked before anything is parsed.
    if not signature_is_valid(raw_body, signature, secret):
        raise InvalidSignature()
    try:
        note = HmacNotification.model_validate_json(raw_body)
    except ValidationError as exc:
        raise InvalidInput.of(exc, "Invalid notification", loc=("body",)) from None
    applied = await apply_verified_payment(
        session,
        order_id=note.order_id,
        transaction_id=note.transaction_id,
        amount_fen=note.amount_fen,
        paid_at=now,
        source=PaymentSource.PROVIDER,
        now=now,
        refuse_wrong_amount=True,
    )
    return applied.payment


async def dev_pay(session: AsyncSession, *, order_id: int, user: Principal, now: datetime) -> PaymentRead:
    """Pay an order as if the provider had notified us (development only; the router checks the setting)."""
    order = await order_for_customer(session, order_id, user)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise OrderNotPayable(f"Order {order_id} is {order.status}")
    applied = await apply_verified_payment(
        session,
        order_id=order_id,
        transaction_id=f"dev-{uuid.uuid4().hex}",
        amount_fen=order.payable_fen,
        paid_at=now,
        source=PaymentSource.DEV,
        now=now,
    )
    return applied.payment


# -- opening the order with the provider -----------------------------------------------------------------------------


def out_trade_no_of(order: Order) -> str:
    """Ours, one per order, unique at the provider: the order id and its creation second, so a development database
    started afresh does not reuse the numbers of an earlier one at the same merchant."""
    assert order.id is not None
    return f"GB{order.id}T{int(order.created_at.timestamp())}"


def _description(order_id: int, names: list[str]) -> str:
    first = names[0] if names else f"Order {order_id}"
    text = first if len(names) <= 1 else f"{first} 等{len(names)}件"
    return text.encode()[:120].decode(errors="ignore")  # WeChat allows 127 bytes


async def create_payment(
    session: AsyncSession,
    *,
    order_id: int,
    user: Principal,
    provider: PaymentProvider,
    payers: PayerDirectory,
    now: datetime,
) -> PaymentParameters:
    """The mini-program's payment parameters for an unpaid order; the provider's order is opened once and reused."""
    order = await order_for_customer(session, order_id, user)
    if order.status != OrderStatus.PENDING_PAYMENT or order.expires_at <= now:
        raise OrderNotPayable(f"Order {order_id} is {order.status} and cannot be paid")
    trade = await repository.trade_of_order(session, order_id)
    if (
        trade is not None
        and trade.status == TradeStatus.OPEN
        and trade.amount_fen == order.payable_fen
        and trade.prepay_expires_at > now + PREPAY_REUSE_MARGIN
    ):
        return _parameters(provider, trade)
    if trade is not None and trade.status != TradeStatus.OPEN:
        raise OrderNotPayable(f"Order {order_id}'s payment is {trade.status}")
    out_trade_no = trade.out_trade_no if trade is not None else out_trade_no_of(order)
    try:
        openid = await payers.openid_of(order.customer_id)
        lines = await orders_repository.get_lines(session, order_id)
        prepay_id = await provider.create_prepay(
            out_trade_no=out_trade_no,
            description=_description(order_id, [line.product_name for line in lines]),
            amount_fen=order.payable_fen,
            payer_openid=openid,
            expires_at=order.expires_at,
        )
    except ProviderError as exc:
        log.warning(
            "could not open the order with the payment provider", extra={"order_id": order_id, "error": str(exc)}
        )
        raise PaymentProviderUnavailable(str(exc)) from None
    expires_at = min(now + PREPAY_VALIDITY, order.expires_at)
    if trade is not None:
        assert trade.id is not None
        await repository.renew_prepay(
            session, trade_id=trade.id, prepay_id=prepay_id, payer_openid=openid, amount_fen=order.payable_fen,
            expires_at=expires_at, now=now,
        )  # fmt: skip
        trade = await repository.trade_of_order(session, order_id)
        assert trade is not None
        return _parameters(provider, trade)
    trade = ProviderTrade(
        order_id=order_id,
        out_trade_no=out_trade_no,
        provider=provider.name,
        prepay_id=prepay_id,
        payer_openid=openid,
        amount_fen=order.payable_fen,
        prepay_expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    if not await repository.insert_trade(session, trade):
        # A parallel request opened it first (the provider gave both the same order): answer with that one.
        found = await repository.trade_of_order(session, order_id)
        assert found is not None
        trade = found
    return _parameters(provider, trade)


def _parameters(provider: PaymentProvider, trade: ProviderTrade) -> PaymentParameters:
    params = provider.jsapi_parameters(trade.prepay_id)
    return PaymentParameters(
        order_id=trade.order_id,
        out_trade_no=trade.out_trade_no,
        prepay_id=trade.prepay_id,
        appId=params.appId,
        timeStamp=params.timeStamp,
        nonceStr=params.nonceStr,
        package=params.package,
        signType=params.signType,
        paySign=params.paySign,
    )


# -- notifications ---------------------------------------------------------------------------------------------------


async def apply_notice(
    session: AsyncSession, *, notice: PaymentNotice | RefundNotice, now: datetime
) -> NotificationOutcome:
    """Apply a verified notification once per notification id; a replay only counts another delivery."""
    is_payment = isinstance(notice, PaymentNotice)
    record = PaymentNotification(
        notification_id=notice.notification_id[:64] or f"missing-{uuid.uuid4().hex}",
        event_type=notice.event_type[:40],
        reference=(notice.out_trade_no if isinstance(notice, PaymentNotice) else notice.out_refund_no)[:64],
        transaction_id=notice.transaction_id[:64] if isinstance(notice, PaymentNotice) else None,
        amount_fen=notice.amount_fen,
        outcome=NotificationOutcome.IGNORED,
        received_at=now,
        last_received_at=now,
    )
    if not await repository.insert_notification(session, record):
        await repository.count_redelivery(session, notification_id=record.notification_id, now=now)
        log.info("notification delivered again; no second effect", extra={"notification_id": record.notification_id})
        return NotificationOutcome.DUPLICATE
    if isinstance(notice, PaymentNotice):
        outcome, note = await _apply_payment_notice(session, notice, now=now)
    else:
        outcome, note = await _apply_refund_notice(session, notice, now=now)
    record.outcome, record.note = outcome, note
    session.add(record)
    await session.flush()
    level = (
        logging.INFO if outcome in (NotificationOutcome.PAID, NotificationOutcome.REFUND_SUCCEEDED) else logging.WARNING
    )
    log.log(level, "payment notification applied" if is_payment else "refund notification applied",
            extra={"reference": record.reference, "outcome": outcome})  # fmt: skip
    return outcome


async def _apply_payment_notice(
    session: AsyncSession, notice: PaymentNotice, *, now: datetime
) -> tuple[NotificationOutcome, str | None]:
    if notice.trade_state != "SUCCESS" or not notice.transaction_id:
        return NotificationOutcome.IGNORED, f"trade_state {notice.trade_state}"[:200]
    trade = await repository.trade_by_out_trade_no(session, notice.out_trade_no)
    if trade is None:
        return NotificationOutcome.UNKNOWN_ORDER, "no order of ours has this out_trade_no"
    try:
        applied = await apply_verified_payment(
            session,
            order_id=trade.order_id,
            transaction_id=notice.transaction_id,
            amount_fen=notice.amount_fen,
            paid_at=notice.paid_at,
            source=PaymentSource.PROVIDER,
            now=now,
        )
    except TransactionConflict as exc:
        return NotificationOutcome.DUPLICATE, str(exc)[:200]
    return applied.outcome, applied.payment.note


async def _apply_refund_notice(
    session: AsyncSession, notice: RefundNotice, *, now: datetime
) -> tuple[NotificationOutcome, str | None]:
    refund = await repository.provider_refund_by_no(session, notice.out_refund_no)
    if refund is None:
        return NotificationOutcome.UNKNOWN_REFUND, "no refund of ours has this out_refund_no"
    receipt = RefundReceipt(notice.refund_id, notice.state, notice.succeeded_at)
    await record_refund_answer(session, refund=refund, receipt=receipt, now=now)
    if notice.state == RefundState.SUCCESS:
        return NotificationOutcome.REFUND_SUCCEEDED, None
    if notice.state == RefundState.PROCESSING:
        return NotificationOutcome.IGNORED, "still processing"
    return NotificationOutcome.REFUND_FAILED, f"the provider says {notice.state}"


async def list_notifications(
    session: AsyncSession, *, page: PageParams, outcome: NotificationOutcome | None
) -> Page[NotificationRead]:
    rows = await repository.list_notifications(
        session, limit=page.limit + 1, after_id=page.after_int(), outcome=outcome
    )
    return page.page(rows, key=lambda n: [n.id], convert=NotificationRead.model_validate)


async def list_payments(
    session: AsyncSession, *, page: PageParams, status: PaymentStatus | None, order_id: int | None
) -> Page[PaymentRead]:
    rows = await repository.list_payments(
        session, limit=page.limit + 1, after_id=page.after_int(), status=status, order_id=order_id
    )
    return page.page(rows, key=lambda p: [p.id], convert=PaymentRead.model_validate)


# -- refunds through the provider ------------------------------------------------------------------------------------


def payment_refund_no(payment_id: int) -> str:
    return f"payment-{payment_id}"


def line_refund_no(refund_id: int) -> str:
    return f"refund-{refund_id}"


async def _tracked(
    session: AsyncSession, refund: ProviderRefund, *, now: datetime, now_or_backoff: bool
) -> ProviderRefund | None:
    """The provider refund row (created on the first run), if it is due to be sent now (`now_or_backoff`: even if
    its backoff after a failure has not run out: staff asked for it)."""
    await repository.insert_provider_refund(session, refund)
    tracked = await repository.provider_refund_by_no(session, refund.out_refund_no)
    assert tracked is not None
    if tracked.status != RefundAttemptStatus.PENDING or (tracked.next_attempt_at > now and not now_or_backoff):
        return None
    return tracked


async def payment_refund_due(
    session: AsyncSession, *, payment_id: int, now: datetime, now_or_backoff: bool = False
) -> ProviderRefund | None:
    """The refund of a payment that arrived for an order no longer waiting for it, if due; None once sent."""
    payment = await repository.get_payment(session, payment_id)
    if payment is None or payment.status != PaymentStatus.REFUND_PENDING:
        return None
    assert payment.id is not None
    return await _tracked(
        session,
        ProviderRefund(
            out_refund_no=payment_refund_no(payment.id),
            payment_id=payment.id,
            transaction_id=payment.transaction_id,
            amount_fen=payment.amount_fen,
            total_fen=payment.amount_fen,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        ),
        now=now,
        now_or_backoff=now_or_backoff,
    )


async def line_refund_due(
    session: AsyncSession, *, refund_id: int, now: datetime, now_or_backoff: bool = False
) -> ProviderRefund | None:
    """The money of a refund of order lines, paid back on the order's captured payment, if due; None once sent."""
    refund = await orders_repository.get_refund(session, refund_id)
    if refund is None or refund.provider_status != RefundProviderStatus.PENDING:
        return None
    payment = await repository.captured_payment_of(session, refund.order_id)
    if payment is None or payment.id is None:
        raise RuntimeError(f"order {refund.order_id} has no captured payment to refund")
    return await _tracked(
        session,
        ProviderRefund(
            out_refund_no=line_refund_no(refund_id),
            payment_id=payment.id,
            refund_id=refund_id,
            transaction_id=payment.transaction_id,
            amount_fen=refund.refund_fen,
            total_fen=payment.amount_fen,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        ),
        now=now,
        now_or_backoff=now_or_backoff,
    )


async def _mark_source_sent(session: AsyncSession, refund: ProviderRefund, provider_id: str, now: datetime) -> None:
    if refund.refund_id is not None:
        if await orders_repository.mark_refund_sent(
            session, refund_id=refund.refund_id, provider_refund_id=provider_id, now=now
        ):
            # The money of an approved after-sale request is back with the customer: the request is `refunded`.
            await aftersales_service.refund_paid(session, refund_id=refund.refund_id, now=now)
    else:
        await repository.mark_refunded(session, payment_id=refund.payment_id, provider_refund_id=provider_id, now=now)


async def _mark_source_failed(session: AsyncSession, refund: ProviderRefund) -> None:
    """The source leaves the sender's queue: its refund waits for staff."""
    if refund.refund_id is not None:
        for expected in (RefundProviderStatus.PENDING, RefundProviderStatus.SENT):
            await repository.set_line_refund_status(
                session, refund_id=refund.refund_id, expected=expected, status=RefundProviderStatus.FAILED
            )
    else:
        for status in (PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED):
            await repository.set_payment_status(
                session, payment_id=refund.payment_id, expected=status, status=PaymentStatus.REFUND_FAILED
            )


async def record_refund_answer(
    session: AsyncSession, *, refund: ProviderRefund, receipt: RefundReceipt, now: datetime
) -> None:
    """What the provider said of a refund (its answer to our request or query, or its notification)."""
    assert refund.id is not None
    active = (RefundAttemptStatus.PENDING, RefundAttemptStatus.PROCESSING)
    if receipt.state in (RefundState.ABNORMAL, RefundState.CLOSED):
        if await repository.update_provider_refund(
            session,
            refund_id=refund.id,
            expected=active,
            values={
                "status": RefundAttemptStatus.FAILED,
                "provider_refund_id": receipt.refund_id or refund.provider_refund_id,
                "last_error": f"the provider says {receipt.state}",
                "updated_at": now,
            },
        ):
            await _mark_source_failed(session, refund)
            log.warning(
                "refund failed at the provider; parked for staff", extra={"out_refund_no": refund.out_refund_no}
            )
        return
    succeeded = receipt.state == RefundState.SUCCESS
    values: dict[str, Any] = {
        "status": RefundAttemptStatus.SUCCEEDED if succeeded else RefundAttemptStatus.PROCESSING,
        "provider_refund_id": receipt.refund_id or refund.provider_refund_id,
        "last_error": None,
        "updated_at": now,
    }
    if succeeded:
        values["succeeded_at"] = receipt.succeeded_at or now
    if await repository.update_provider_refund(session, refund_id=refund.id, expected=active, values=values):
        await _mark_source_sent(session, refund, receipt.refund_id, now)


async def record_refund_failure(
    session: AsyncSession, *, provider_refund_id: int, error: str, now: datetime, max_attempts: int, base_delay: float
) -> bool:
    """One more failed attempt, retried after a growing delay; the last one parks the refund. True if parked."""
    refund = await repository.provider_refund(session, provider_refund_id)
    if refund is None or refund.status != RefundAttemptStatus.PENDING:
        return False
    attempts = refund.attempts + 1
    if attempts >= max_attempts:
        await repository.update_provider_refund(
            session,
            refund_id=provider_refund_id,
            expected=(RefundAttemptStatus.PENDING,),
            values={"status": RefundAttemptStatus.FAILED, "attempts": attempts, "last_error": error[:200],
                    "updated_at": now},
        )  # fmt: skip
        await _mark_source_failed(session, refund)
        return True
    delay = min(base_delay * 2**attempts, 3600.0)
    await repository.update_provider_refund(
        session,
        refund_id=provider_refund_id,
        expected=(RefundAttemptStatus.PENDING,),
        values={"attempts": attempts, "last_error": error[:200], "next_attempt_at": now + timedelta(seconds=delay),
                "updated_at": now},
    )  # fmt: skip
    return False


async def list_provider_refunds(
    session: AsyncSession, *, page: PageParams, status: RefundAttemptStatus | None
) -> Page[ProviderRefundRead]:
    rows = await repository.list_provider_refunds(
        session, limit=page.limit + 1, after_id=page.after_int(), status=status
    )
    return page.page(rows, key=lambda r: [r.id], convert=ProviderRefundRead.model_validate)


async def retry_parked_refund(
    session: AsyncSession, *, provider_refund_id: int, by: str, now: datetime
) -> ProviderRefundRead:
    """Send a parked refund again (after staff fixed the cause): same `out_refund_no`, so never paid twice."""
    refund = await repository.provider_refund(session, provider_refund_id)
    if refund is None:
        raise ProviderRefundNotFound(f"No provider refund {provider_refund_id}")
    if not await repository.update_provider_refund(
        session,
        refund_id=provider_refund_id,
        expected=(RefundAttemptStatus.FAILED,),
        values={"status": RefundAttemptStatus.PENDING, "attempts": 0, "next_attempt_at": now, "updated_at": now},
    ):
        raise RefundNotParked(f"Refund {refund.out_refund_no} is {refund.status}")
    if refund.refund_id is not None:
        await repository.set_line_refund_status(
            session, refund_id=refund.refund_id, expected=RefundProviderStatus.FAILED,
            status=RefundProviderStatus.PENDING,
        )  # fmt: skip
    else:
        await repository.set_payment_status(
            session, payment_id=refund.payment_id, expected=PaymentStatus.REFUND_FAILED,
            status=PaymentStatus.REFUND_PENDING,
        )  # fmt: skip
    found = await repository.provider_refund(session, provider_refund_id)
    await audit.record(
        session, outbox, actor=by, action="provider_refund.retried", target=("provider_refund", provider_refund_id),
        before={"status": RefundAttemptStatus.FAILED}, after={"status": RefundAttemptStatus.PENDING}, at=now,
    )  # fmt: skip
    return ProviderRefundRead.model_validate(found)
