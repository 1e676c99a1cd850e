"""Payment notifications from the provider, and refunds back through it.

A notification is accepted once per provider transaction id (unique key). If its order is still waiting, the order
becomes paid. If not (cancelled, or paid by another transaction), the money is recorded as `refund_pending` and the
refund sender pays it back: a late payment never revives an order and never takes stock.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import utcnow
from services.common.db import Database
from services.common.errors import InvalidInput
from services.common.pagination import Page, PageParams
from services.orders.orders import repository as orders_repository
from services.orders.orders import service as orders_service
from services.orders.orders.models import RefundProviderStatus
from services.orders.payment_provider import RefundProvider, signature_is_valid
from services.orders.payments import repository
from services.orders.payments.exceptions import (
    AmountMismatch,
    InvalidSignature,
    PaymentOrderNotFound,
    TransactionConflict,
)
from services.orders.payments.models import Payment, PaymentStatus
from services.orders.payments.schemas import PaymentNotification, PaymentRead, RefundRunResult

log = logging.getLogger("services.orders.payments")


def _same(payment: Payment, note: PaymentNotification) -> PaymentRead:
    if payment.order_id != note.order_id or payment.amount_fen != note.amount_fen:
        raise TransactionConflict(f"Transaction {note.transaction_id} was reported with other values")
    return PaymentRead.model_validate(payment)


async def record_notification(
    session: AsyncSession, *, raw_body: bytes, signature: str | None, secret: str
) -> PaymentRead:
    # The signature covers the exact bytes received, so it is checked before anything is parsed.
    if not signature_is_valid(raw_body, signature, secret):
        raise InvalidSignature()
    try:
        note = PaymentNotification.model_validate_json(raw_body)
    except ValidationError as exc:
        raise InvalidInput(f"Invalid notification: {exc.errors()[0]['msg']}") from None

    existing = await repository.get_by_transaction(session, note.transaction_id)
    if existing is not None:
        return _same(existing, note)
    order = await orders_repository.get_order(session, note.order_id)
    if order is None:
        raise PaymentOrderNotFound(f"Order {note.order_id} does not exist")
    if note.amount_fen != order.payable_fen:
        raise AmountMismatch(f"Order {note.order_id} asks for {order.payable_fen} fen, {note.amount_fen} were paid")

    payment = Payment(
        transaction_id=note.transaction_id,
        order_id=note.order_id,
        amount_fen=note.amount_fen,
        status=PaymentStatus.CAPTURED,
    )
    if not await repository.insert_payment(session, payment):
        # A parallel delivery of the same notification won the unique key; answer as it did.
        existing = await repository.get_by_transaction(session, note.transaction_id)
        assert existing is not None
        return _same(existing, note)
    if not await orders_service.mark_paid(session, order=order, transaction_id=note.transaction_id):
        current = await orders_repository.get_order(session, note.order_id)
        state = current.status if current is not None else "gone"
        payment.status = PaymentStatus.REFUND_PENDING
        payment.note = f"order was {state} when the payment arrived"
        session.add(payment)
        await session.flush()
        log.warning(
            "payment for an order not waiting for it; will be refunded",
            extra={"order_id": note.order_id, "transaction_id": note.transaction_id, "order_status": state},
        )
    return PaymentRead.model_validate(payment)


async def list_payments(
    session: AsyncSession, *, page: PageParams, status: PaymentStatus | None, order_id: int | None
) -> Page[PaymentRead]:
    rows = await repository.list_payments(
        session, limit=page.limit + 1, after_id=page.after_int(), status=status, order_id=order_id
    )
    return page.page(rows, key=lambda p: [p.id], convert=PaymentRead.model_validate)


async def send_pending_refunds(db: Database, provider: RefundProvider, *, limit: int = 100) -> RefundRunResult:
    """Pay back payments marked `refund_pending` and line refunds not yet sent.

    The provider is called outside any transaction (no lock is held while it answers) with a key unique per
    refund, so a crash or a second job instance at worst repeats a call the provider deduplicates; the row is then
    marked with a guarded update.
    """
    payments_refunded = refunds_sent = failures = 0
    async with db.sessionmaker() as session:
        payment_ids = await repository.payment_ids_to_refund(session, limit=limit)
        refund_ids = await orders_repository.pending_refund_ids(session, limit=limit)
    for payment_id in payment_ids:
        try:
            async with db.sessionmaker() as session:
                payment = await repository.get_payment(session, payment_id)
            if payment is None or payment.status != PaymentStatus.REFUND_PENDING:
                continue
            provider_id = await provider.refund(
                transaction_id=payment.transaction_id, amount_fen=payment.amount_fen, refund_key=f"payment:{payment_id}"
            )
            async with db.sessionmaker() as session, session.begin():
                if await repository.mark_refunded(
                    session, payment_id=payment_id, provider_refund_id=provider_id, now=utcnow()
                ):
                    payments_refunded += 1
        except Exception:
            failures += 1
            log.exception("refund of a payment failed; retried next run", extra={"payment_id": payment_id})
    for refund_id in refund_ids:
        try:
            async with db.sessionmaker() as session:
                refund = await orders_repository.get_refund(session, refund_id)
                payment = None if refund is None else await repository.captured_payment_of(session, refund.order_id)
            if refund is None or refund.provider_status != RefundProviderStatus.PENDING:
                continue
            if payment is None:
                raise RuntimeError(f"order {refund.order_id} has no captured payment to refund")
            provider_id = await provider.refund(
                transaction_id=payment.transaction_id, amount_fen=refund.refund_fen, refund_key=f"refund:{refund_id}"
            )
            async with db.sessionmaker() as session, session.begin():
                if await orders_repository.mark_refund_sent(
                    session, refund_id=refund_id, provider_refund_id=provider_id, now=utcnow()
                ):
                    refunds_sent += 1
        except Exception:
            failures += 1
            log.exception("refund of order lines failed; retried next run", extra={"refund_id": refund_id})
    return RefundRunResult(payments_refunded=payments_refunded, refunds_sent=refunds_sent, failures=failures)
