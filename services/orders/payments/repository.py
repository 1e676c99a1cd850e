"""All SQL about payments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.orders.payments.models import Payment, PaymentStatus


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
