"""All SQL about payments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.orders.orders.models import Order, OrderStatus, Refund, RefundProviderStatus
from services.orders.payments.models import (
    NotificationOutcome,
    Payment,
    PaymentNotification,
    PaymentReconciliation,
    PaymentSource,
    PaymentStatus,
    ProviderRefund,
    ProviderTrade,
    RefundAttemptStatus,
    TradeStatus,
)


async def insert_payment(session: AsyncSession, payment: Payment) -> bool:
    """Insert unless the transaction id is known (unique key): False means this notification is a repeat."""
    return await insert_once(session, payment, conflict_columns=("transaction_id",))


async def get_by_transaction(session: AsyncSession, transaction_id: str) -> Payment | None:
    query = select(Payment).where(Payment.transaction_id == transaction_id).execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def get_payment(session: AsyncSession, payment_id: int) -> Payment | None:
    query = select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def captured_payment_of(session: AsyncSession, order_id: int) -> Payment | None:
    query = (
        select(Payment)
        .where(Payment.order_id == order_id, Payment.status == PaymentStatus.CAPTURED)
        .order_by(col(Payment.id))
    )
    return (await session.exec(query)).first()


async def list_payments(
    session: AsyncSession, *, limit: int, after_id: int | None, status: PaymentStatus | None, order_id: int | None
) -> Sequence[Payment]:
    query = select(Payment).order_by(col(Payment.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(Payment.id) < after_id)
    if status is not None:
        query = query.where(Payment.status == status)
    if order_id is not None:
        query = query.where(Payment.order_id == order_id)
    return (await session.exec(query)).all()


async def payment_ids_to_refund(session: AsyncSession, *, limit: int) -> Sequence[int]:
    query = (
        select(Payment.id).where(Payment.status == PaymentStatus.REFUND_PENDING).order_by(col(Payment.id)).limit(limit)
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def mark_refunded(session: AsyncSession, *, payment_id: int, provider_refund_id: str, now: datetime) -> bool:
    result = await session.exec(
        update(Payment)
        .where(col(Payment.id) == payment_id, col(Payment.status) == PaymentStatus.REFUND_PENDING)
        .values(status=PaymentStatus.REFUNDED, provider_refund_id=provider_refund_id, refunded_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# -- provider trades -------------------------------------------------------------------------------------------------


async def trade_of_order(session: AsyncSession, order_id: int) -> ProviderTrade | None:
    query = select(ProviderTrade).where(ProviderTrade.order_id == order_id).execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def trade_by_out_trade_no(session: AsyncSession, out_trade_no: str) -> ProviderTrade | None:
    query = (
        select(ProviderTrade)
        .where(ProviderTrade.out_trade_no == out_trade_no)
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).first()


async def insert_trade(session: AsyncSession, trade: ProviderTrade) -> bool:
    """False when the order has one already (a parallel request opened it)."""
    return await insert_once(session, trade, conflict_columns=("order_id",))


async def renew_prepay(
    session: AsyncSession, *, trade_id: int, prepay_id: str, payer_openid: str, amount_fen: int, expires_at: datetime,
    now: datetime,
) -> None:  # fmt: skip
    await session.exec(
        update(ProviderTrade)
        .where(col(ProviderTrade.id) == trade_id, col(ProviderTrade.status) == TradeStatus.OPEN)
        .values(
            prepay_id=prepay_id,
            payer_openid=payer_openid,
            amount_fen=amount_fen,
            prepay_expires_at=expires_at,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def set_trade_status(
    session: AsyncSession, *, order_id: int, expected: TradeStatus, status: TradeStatus, now: datetime
) -> bool:
    result = await session.exec(
        update(ProviderTrade)
        .where(col(ProviderTrade.order_id) == order_id, col(ProviderTrade.status) == expected)
        .values(status=status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def note_close_failure(session: AsyncSession, *, trade_id: int, error: str, now: datetime) -> None:
    await session.exec(
        update(ProviderTrade)
        .where(col(ProviderTrade.id) == trade_id)
        .values(close_attempts=col(ProviderTrade.close_attempts) + 1, close_error=error[:200], updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def trades_to_close(session: AsyncSession, *, limit: int) -> Sequence[ProviderTrade]:
    """Open provider trades whose order was cancelled: they must be closed so they cannot be paid."""
    query = (
        select(ProviderTrade)
        .join(Order, col(Order.id) == col(ProviderTrade.order_id))
        .where(col(ProviderTrade.status) == TradeStatus.OPEN, col(Order.status) == OrderStatus.CANCELLED)
        .order_by(col(ProviderTrade.close_attempts), col(ProviderTrade.id))
        .limit(limit)
    )
    return (await session.exec(query)).all()


# -- notifications ---------------------------------------------------------------------------------------------------


async def insert_notification(session: AsyncSession, notification: PaymentNotification) -> bool:
    """False when this notification id was received before (a replay)."""
    return await insert_once(session, notification, conflict_columns=("notification_id",))


async def count_redelivery(session: AsyncSession, *, notification_id: str, now: datetime) -> None:
    await session.exec(
        update(PaymentNotification)
        .where(col(PaymentNotification.notification_id) == notification_id)
        .values(deliveries=col(PaymentNotification.deliveries) + 1, last_received_at=now)
        .execution_options(synchronize_session=False)
    )


async def list_notifications(
    session: AsyncSession, *, limit: int, after_id: int | None, outcome: NotificationOutcome | None
) -> Sequence[PaymentNotification]:
    query = select(PaymentNotification).order_by(col(PaymentNotification.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(PaymentNotification.id) < after_id)
    if outcome is not None:
        query = query.where(PaymentNotification.outcome == outcome)
    return (await session.exec(query)).all()


# -- refunds at the provider -----------------------------------------------------------------------------------------


async def insert_provider_refund(session: AsyncSession, refund: ProviderRefund) -> bool:
    return await insert_once(session, refund, conflict_columns=("out_refund_no",))


async def provider_refund(session: AsyncSession, provider_refund_id: int) -> ProviderRefund | None:
    query = select(ProviderRefund).where(ProviderRefund.id == provider_refund_id)
    return (await session.exec(query.execution_options(populate_existing=True))).first()


async def provider_refund_by_no(session: AsyncSession, out_refund_no: str) -> ProviderRefund | None:
    query = select(ProviderRefund).where(ProviderRefund.out_refund_no == out_refund_no)
    return (await session.exec(query.execution_options(populate_existing=True))).first()


async def update_provider_refund(
    session: AsyncSession, *, refund_id: int, expected: Sequence[RefundAttemptStatus], values: dict[str, Any]
) -> bool:
    result = await session.exec(
        update(ProviderRefund)
        .where(col(ProviderRefund.id) == refund_id, col(ProviderRefund.status).in_(list(expected)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def processing_refund_ids(session: AsyncSession, *, updated_before: datetime, limit: int) -> Sequence[int]:
    """Refunds the provider accepted a while ago without telling us the outcome: asked for it."""
    query = (
        select(ProviderRefund.id)
        .where(
            col(ProviderRefund.status) == RefundAttemptStatus.PROCESSING,
            col(ProviderRefund.updated_at) <= updated_before,
        )
        .order_by(col(ProviderRefund.id))
        .limit(limit)
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def list_provider_refunds(
    session: AsyncSession, *, limit: int, after_id: int | None, status: RefundAttemptStatus | None
) -> Sequence[ProviderRefund]:
    query = select(ProviderRefund).order_by(col(ProviderRefund.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(ProviderRefund.id) < after_id)
    if status is not None:
        query = query.where(ProviderRefund.status == status)
    return (await session.exec(query)).all()


async def set_payment_status(
    session: AsyncSession, *, payment_id: int, expected: PaymentStatus, status: PaymentStatus
) -> bool:
    result = await session.exec(
        update(Payment)
        .where(col(Payment.id) == payment_id, col(Payment.status) == expected)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# -- reconciliation --------------------------------------------------------------------------------------------------


async def provider_payments_between(
    session: AsyncSession, *, start: datetime, end: datetime
) -> Sequence[tuple[Payment, str | None]]:
    """Payments the provider reported as paid in [start, end), with the out_trade_no of their order's trade."""
    query = (
        select(Payment, ProviderTrade.out_trade_no)
        .join(ProviderTrade, col(ProviderTrade.order_id) == col(Payment.order_id), isouter=True)
        .where(
            col(Payment.source) == PaymentSource.PROVIDER,
            col(Payment.paid_at) >= start,
            col(Payment.paid_at) < end,
        )
        .order_by(col(Payment.id))
    )
    return [(payment, out_trade_no) for payment, out_trade_no in (await session.exec(query)).all()]


async def refunds_succeeded_between(
    session: AsyncSession, *, start: datetime, end: datetime
) -> Sequence[ProviderRefund]:
    query = (
        select(ProviderRefund)
        .where(
            col(ProviderRefund.status) == RefundAttemptStatus.SUCCEEDED,
            col(ProviderRefund.succeeded_at) >= start,
            col(ProviderRefund.succeeded_at) < end,
        )
        .order_by(col(ProviderRefund.id))
    )
    return (await session.exec(query)).all()


async def get_reconciliation(session: AsyncSession, bill_date: date) -> PaymentReconciliation | None:
    query = select(PaymentReconciliation).where(PaymentReconciliation.bill_date == bill_date)
    return (await session.exec(query.execution_options(populate_existing=True))).first()


async def save_reconciliation(session: AsyncSession, report: PaymentReconciliation) -> PaymentReconciliation:
    """Insert, or replace the day's earlier report (a second run sees the bills as they are now)."""
    await session.exec(delete(PaymentReconciliation).where(col(PaymentReconciliation.bill_date) == report.bill_date))
    session.add(report)
    await session.flush()
    return report


async def set_line_refund_status(
    session: AsyncSession, *, refund_id: int, expected: RefundProviderStatus, status: RefundProviderStatus
) -> bool:
    """The provider status of a refund of order lines (the orders' `refunds` table), guarded."""
    result = await session.exec(
        update(Refund)
        .where(col(Refund.id) == refund_id, col(Refund.provider_status) == expected)
        .values(provider_status=status)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
