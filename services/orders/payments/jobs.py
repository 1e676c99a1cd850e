"""The refund sender: pays back, through the provider, late payments (`refund_pending`) and refunds of order lines.

The provider is called outside any transaction (no lock is held while it answers) with a key unique per refund, so
a crash or a second process at worst repeats a call the provider deduplicates; the row is then marked with a guarded
update in a transaction of its own. A refund that fails is logged and retried on the next run; the others go on.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import FastAPI

from services.common.db import Database
from services.orders.orders import repository as orders_repository
from services.orders.payment_provider import RefundProvider
from services.orders.payments import repository, service
from services.orders.payments.schemas import RefundRunResult
from services.orders.payments.service import RefundToSend

log = logging.getLogger("services.orders.payments")


async def send_pending_refunds(
    db: Database, provider: RefundProvider, *, now: datetime, limit: int = 100
) -> RefundRunResult:
    """Send every refund waiting for the provider. Returns how many were sent and how many failed."""
    async with db.reading() as session:
        payment_ids = await repository.payment_ids_to_refund(session, limit=limit)
        refund_ids = await orders_repository.pending_refund_ids(session, limit=limit)
    payments_refunded = refunds_sent = failures = 0
    for payment_id in payment_ids:
        try:
            payments_refunded += await _refund_payment(db, provider, payment_id=payment_id, now=now)
        except Exception:
            failures += 1
            log.exception("refund of a payment failed; retried next run", extra={"payment_id": payment_id})
    for refund_id in refund_ids:
        try:
            refunds_sent += await _send_line_refund(db, provider, refund_id=refund_id, now=now)
        except Exception:
            failures += 1
            log.exception("refund of order lines failed; retried next run", extra={"refund_id": refund_id})
    return RefundRunResult(payments_refunded=payments_refunded, refunds_sent=refunds_sent, failures=failures)


async def _refund_payment(db: Database, provider: RefundProvider, *, payment_id: int, now: datetime) -> bool:
    async with db.reading() as session:
        refund = await service.payment_refund_to_send(session, payment_id=payment_id)
    if refund is None:
        return False  # sent meanwhile
    provider_id = await _ask_provider(provider, refund)
    async with db.transaction() as session:
        return await service.mark_payment_refunded(
            session, payment_id=payment_id, provider_refund_id=provider_id, now=now
        )


async def _send_line_refund(db: Database, provider: RefundProvider, *, refund_id: int, now: datetime) -> bool:
    async with db.reading() as session:
        refund = await service.line_refund_to_send(session, refund_id=refund_id)
    if refund is None:
        return False  # sent meanwhile
    provider_id = await _ask_provider(provider, refund)
    async with db.transaction() as session:
        return await service.mark_line_refund_sent(
            session, refund_id=refund_id, provider_refund_id=provider_id, now=now
        )


async def _ask_provider(provider: RefundProvider, refund: RefundToSend) -> str:
    return await provider.refund(
        transaction_id=refund.transaction_id, amount_fen=refund.amount_fen, refund_key=refund.refund_key
    )


async def refund_sender_job(app: FastAPI) -> RefundRunResult:
    return await send_pending_refunds(app.state.db, app.state.refund_provider, now=app.state.clock())
