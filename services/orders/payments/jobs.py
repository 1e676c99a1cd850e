"""The payments' periodic work: refunds sent to the provider, cancelled orders closed at the provider, the payment
timeout asking the provider before it cancels, and the daily reconciliation of the provider's bills.

The provider is always called outside any transaction (no lock is held while it answers), with a key that makes
the call idempotent (`out_refund_no`, `out_trade_no`), so a crash or a second process at worst repeats a call the
provider deduplicates; what it answered is then written with a guarded update in a transaction of its own. One item
failing is logged and retried later; the others go on.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from fastapi import FastAPI

from services.common.db import Database
from services.orders.config import Settings
from services.orders.orders import jobs as orders_jobs
from services.orders.orders import repository as orders_repository
from services.orders.payment_provider import PaymentProvider, ProviderError, RefundProvider, Trade
from services.orders.payments import reconciliation, repository, service
from services.orders.payments.models import PaymentSource, TradeStatus
from services.orders.payments.schemas import RefundRunResult

log = logging.getLogger("services.orders.payments")

#: A refund the provider accepted without notifying its outcome within this long is asked about.
REFUND_QUERY_AFTER = timedelta(minutes=2)


# -- refunds ---------------------------------------------------------------------------------------------------------


async def send_pending_refunds(
    db: Database,
    provider: RefundProvider,
    *,
    now: datetime,
    limit: int = 100,
    max_attempts: int = 6,
    retry_base_seconds: float = 10.0,
    now_or_backoff: bool = False,
) -> RefundRunResult:
    """Send every refund waiting for the provider, and ask about those it accepted long ago without a word.
    Returns how many were sent and how many failed (a refund failing `max_attempts` times is parked for staff).
    `now_or_backoff`: send even those waiting out their backoff after a failure (staff asked for a run now)."""
    async with db.reading() as session:
        payment_ids = await repository.payment_ids_to_refund(session, limit=limit)
        refund_ids = await orders_repository.pending_refund_ids(session, limit=limit)
        unanswered = await repository.processing_refund_ids(
            session, updated_before=now - REFUND_QUERY_AFTER, limit=limit
        )
    payments_refunded = refunds_sent = failures = 0
    for kind, ids in (("payment", payment_ids), ("refund", refund_ids)):
        for source_id in ids:
            try:
                sent = await _send_one(
                    db, provider, kind=kind, source_id=source_id, now=now, max_attempts=max_attempts,
                    retry_base_seconds=retry_base_seconds, now_or_backoff=now_or_backoff,
                )  # fmt: skip
            except Exception:
                failures += 1
                log.exception("refund could not be prepared; retried next run", extra={kind + "_id": source_id})
                continue
            if sent is None:
                continue
            if not sent:
                failures += 1
            elif kind == "payment":
                payments_refunded += 1
            else:
                refunds_sent += 1
    for provider_refund_id in unanswered:
        await _ask_outcome(db, provider, provider_refund_id=provider_refund_id, now=now)
    return RefundRunResult(payments_refunded=payments_refunded, refunds_sent=refunds_sent, failures=failures)


async def _send_one(
    db: Database,
    provider: RefundProvider,
    *,
    kind: str,
    source_id: int,
    now: datetime,
    max_attempts: int,
    retry_base_seconds: float,
    now_or_backoff: bool,
) -> bool | None:
    """True when the provider accepted the refund, False when it failed, None when it was not due."""
    async with db.transaction() as session:
        if kind == "payment":
            due = await service.payment_refund_due(
                session, payment_id=source_id, now=now, now_or_backoff=now_or_backoff
            )
        else:
            due = await service.line_refund_due(session, refund_id=source_id, now=now, now_or_backoff=now_or_backoff)
    if due is None:
        return None
    assert due.id is not None
    try:
        receipt = await provider.refund(
            transaction_id=due.transaction_id,
            amount_fen=due.amount_fen,
            total_fen=due.total_fen,
            refund_key=due.out_refund_no,
        )
    except Exception as exc:
        error = str(exc) if isinstance(exc, ProviderError) else type(exc).__name__
        async with db.transaction() as session:
            parked = await service.record_refund_failure(
                session, provider_refund_id=due.id, error=error, now=now, max_attempts=max_attempts,
                base_delay=retry_base_seconds,
            )  # fmt: skip
        log.warning(
            "refund parked for staff after its last attempt" if parked else "refund failed; retried later",
            extra={"out_refund_no": due.out_refund_no, "error": error},
        )
        return False
    async with db.transaction() as session:
        await service.record_refund_answer(session, refund=due, receipt=receipt, now=now)
    return True


async def _ask_outcome(db: Database, provider: RefundProvider, *, provider_refund_id: int, now: datetime) -> None:
    async with db.reading() as session:
        refund = await repository.provider_refund(session, provider_refund_id)
    if refund is None:
        return
    try:
        receipt = await provider.query_refund(refund.out_refund_no)
    except Exception as exc:
        log.warning("could not ask the provider about a refund", extra={"out_refund_no": refund.out_refund_no,
                                                                          "error": type(exc).__name__})  # fmt: skip
        return
    async with db.transaction() as session:
        await service.record_refund_answer(session, refund=refund, receipt=receipt, now=now)


async def refund_sender_job(app: FastAPI) -> RefundRunResult:
    settings: Settings = app.state.settings
    return await send_pending_refunds(
        app.state.db,
        app.state.refund_provider,
        now=app.state.clock(),
        max_attempts=settings.refund_max_attempts,
        retry_base_seconds=settings.refund_interval_seconds,
    )


# -- the payment timeout, and closing cancelled orders at the provider -----------------------------------------------


async def settle_before_cancel(db: Database, provider: PaymentProvider, *, order_id: int, now: datetime) -> bool:
    """May the payment timeout cancel this order? Asks the provider first when the order was opened with it: a
    payment whose notification was lost is applied (the order is paid, not cancelled). False also while the
    provider cannot be asked, or the customer is paying right now: the next run asks again."""
    async with db.reading() as session:
        trade = await repository.trade_of_order(session, order_id)
    if trade is None or trade.status != TradeStatus.OPEN:
        return True
    try:
        found = await provider.query_trade(trade.out_trade_no)
    except ProviderError as exc:
        log.warning("could not ask the provider before cancelling; asked again next run",
                    extra={"order_id": order_id, "error": str(exc)})  # fmt: skip
        return False
    if found.state.paid and found.transaction_id and found.amount_fen is not None:
        async with db.transaction() as session:
            applied = await service.apply_verified_payment(
                session,
                order_id=order_id,
                transaction_id=found.transaction_id,
                amount_fen=found.amount_fen,
                paid_at=found.paid_at,
                source=PaymentSource.PROVIDER,
                now=now,
            )
        log.warning("payment found by query (its notification never came)",
                    extra={"order_id": order_id, "outcome": applied.outcome})  # fmt: skip
        return False
    return found.state.never_paid


async def close_cancelled_trades(db: Database, provider: PaymentProvider, *, now: datetime, limit: int = 100) -> int:
    """Close at the provider every open trade whose order was cancelled, so it can no longer be paid. A close that
    fails stays open and is tried again on the next run. Returns how many were closed."""
    async with db.reading() as session:
        trades = await repository.trades_to_close(session, limit=limit)
    closed = 0
    for trade in trades:
        assert trade.id is not None
        try:
            await provider.close_trade(trade.out_trade_no)
        except ProviderError as exc:
            # Paid meanwhile (WeChat refuses to close a paid order): the query before cancelling, or the
            # notification, brings the payment in; it is refunded as a late payment.
            found = await _query_quietly(provider, trade.out_trade_no)
            if found is not None and found.state.paid and found.transaction_id and found.amount_fen is not None:
                async with db.transaction() as session:
                    await service.apply_verified_payment(
                        session, order_id=trade.order_id, transaction_id=found.transaction_id,
                        amount_fen=found.amount_fen, paid_at=found.paid_at, source=PaymentSource.PROVIDER, now=now,
                    )  # fmt: skip
                continue
            async with db.transaction() as session:
                await repository.note_close_failure(session, trade_id=trade.id, error=str(exc), now=now)
            log.warning("could not close a cancelled order at the provider; retried next run",
                        extra={"order_id": trade.order_id, "error": str(exc)})  # fmt: skip
            continue
        async with db.transaction() as session:
            closed += await repository.set_trade_status(
                session, order_id=trade.order_id, expected=TradeStatus.OPEN, status=TradeStatus.CLOSED, now=now
            )
    return closed


async def _query_quietly(provider: PaymentProvider, out_trade_no: str) -> Trade | None:
    try:
        return await provider.query_trade(out_trade_no)
    except ProviderError:
        return None


async def payment_timeout_job(app: FastAPI) -> int:
    """Cancel unpaid orders whose time ran out, asking the provider first; then close them there."""
    settings: Settings = app.state.settings
    provider: PaymentProvider = app.state.payment_provider
    db: Database = app.state.db
    now = app.state.clock()

    async def may_cancel(order_id: int) -> bool:
        return await settle_before_cancel(db, provider, order_id=order_id, now=now)

    cancelled = await orders_jobs.cancel_expired_orders(
        db, app.state.inventory, now=now, batch=settings.payment_timeout_batch, may_cancel=may_cancel
    )
    if cancelled:
        await close_cancelled_trades(db, provider, now=now)
    return cancelled


async def close_trades_job(app: FastAPI) -> int:
    """Orders cancelled by their customer (or ops) are closed at the provider here."""
    return await close_cancelled_trades(app.state.db, app.state.payment_provider, now=app.state.clock())


# -- reconciliation --------------------------------------------------------------------------------------------------


def day_to_reconcile(settings: Settings, now: datetime) -> date | None:
    """Yesterday (business time), once the provider's bills for it are out (WeChat: from 10:00 the next day)."""
    local = now.astimezone(settings.tz)
    if local.time() < settings.reconciliation_time:
        return None
    return local.date() - timedelta(days=1)


async def reconciliation_job(app: FastAPI) -> bool:
    settings: Settings = app.state.settings
    bill_date = day_to_reconcile(settings, app.state.clock())
    if bill_date is None:
        return False
    async with app.state.db.reading() as session:
        if await repository.get_reconciliation(session, bill_date) is not None:
            return False
    await reconciliation.reconcile(
        app.state.db, app.state.payment_provider, bill_date=bill_date, tz=settings.tz, now=app.state.clock()
    )
    return True
