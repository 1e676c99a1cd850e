"""Payment notifications from the provider, and refunds back through it.

A notification is accepted once per provider transaction id (unique key). If its order is still waiting, the order
becomes paid. If not (cancelled, or paid by another transaction), the money is recorded as `refund_pending` and the
refund sender pays it back: a late payment never revives an order and never takes stock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.errors import InvalidInput
from services.common.pagination import Page, PageParams
from services.orders.aftersales import service as aftersales_service
from services.orders.orders import repository as orders_repository
from services.orders.orders import service as orders_service
from services.orders.orders.models import RefundProviderStatus
from services.orders.payment_provider import signature_is_valid
from services.orders.payments import repository
from services.orders.payments.exceptions import (
    AmountMismatch,
    InvalidSignature,
    PaymentOrderNotFound,
    TransactionConflict,
)
from services.orders.payments.models import Payment, PaymentStatus
from services.orders.payments.schemas import PaymentNotification, PaymentRead

log = logging.getLogger("services.orders.payments")


def _same(payment: Payment, note: PaymentNotification) -> PaymentRead:
    if payment.order_id != note.order_id or payment.amount_fen != note.amount_fen:
        raise TransactionConflict(f"Transaction {note.transaction_id} was reported with other values")
    return PaymentRead.model_validate(payment)


async def record_notification(
    session: AsyncSession, *, raw_body: bytes, signature: str | None, secret: str, now: datetime
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
        created_at=now,
    )
    if not await repository.insert_payment(session, payment):
        # A parallel delivery of the same notification won the unique key; answer as it did.
        existing = await repository.get_by_transaction(session, note.transaction_id)
        assert existing is not None
        return _same(existing, note)
    if not await orders_service.mark_paid(session, order=order, transaction_id=note.transaction_id, now=now):
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


@dataclass(frozen=True, slots=True)
class RefundToSend:
    """What the provider is asked to pay back; `refund_key` is unique per refund, so the provider deduplicates."""

    transaction_id: str
    amount_fen: int
    refund_key: str


async def payment_refund_to_send(session: AsyncSession, *, payment_id: int) -> RefundToSend | None:
    """The refund of a payment that arrived for an order no longer waiting for it; None once it was sent."""
    payment = await repository.get_payment(session, payment_id)
    if payment is None or payment.status != PaymentStatus.REFUND_PENDING:
        return None
    return RefundToSend(payment.transaction_id, payment.amount_fen, refund_key=f"payment:{payment_id}")


async def mark_payment_refunded(
    session: AsyncSession, *, payment_id: int, provider_refund_id: str, now: datetime
) -> bool:
    return await repository.mark_refunded(
        session, payment_id=payment_id, provider_refund_id=provider_refund_id, now=now
    )


async def line_refund_to_send(session: AsyncSession, *, refund_id: int) -> RefundToSend | None:
    """The money of a refund of order lines, paid back on the order's captured payment; None once it was sent."""
    refund = await orders_repository.get_refund(session, refund_id)
    if refund is None or refund.provider_status != RefundProviderStatus.PENDING:
        return None
    payment = await repository.captured_payment_of(session, refund.order_id)
    if payment is None:
        raise RuntimeError(f"order {refund.order_id} has no captured payment to refund")
    return RefundToSend(payment.transaction_id, refund.refund_fen, refund_key=f"refund:{refund_id}")


async def mark_line_refund_sent(
    session: AsyncSession, *, refund_id: int, provider_refund_id: str, now: datetime
) -> bool:
    if not await orders_repository.mark_refund_sent(
        session, refund_id=refund_id, provider_refund_id=provider_refund_id, now=now
    ):
        return False
    # The money of an approved after-sale request is back with the customer: the request is `refunded`.
    await aftersales_service.refund_paid(session, refund_id=refund_id, now=now)
    return True
