"""All SQL about withdrawals (their money moves through the commission ledger's `post_entry`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.leaders.withdrawals.models import Withdrawal, WithdrawalStatus


async def insert_withdrawal(session: AsyncSession, withdrawal: Withdrawal) -> Withdrawal:
    session.add(withdrawal)
    await session.flush()
    return withdrawal


async def get_withdrawal(session: AsyncSession, withdrawal_id: int) -> Withdrawal | None:
    return await session.get(Withdrawal, withdrawal_id, populate_existing=True)


async def decide_withdrawal(
    session: AsyncSession,
    withdrawal_id: int,
    *,
    status: str,
    decided_by: str,
    at: datetime,
    reason: str | None = None,
    payout_ref: str | None = None,
) -> bool:
    """requested → `status`; False when someone decided first."""
    result = await session.exec(
        update(Withdrawal)
        .where(col(Withdrawal.id) == withdrawal_id, col(Withdrawal.status) == WithdrawalStatus.REQUESTED)
        .values(status=status, decided_by=decided_by, decided_at=at, reason=reason, payout_ref=payout_ref)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def list_withdrawals(
    session: AsyncSession,
    *,
    leader_id: str | None,
    status: WithdrawalStatus | None,
    limit: int,
    before_id: int | None,
) -> Sequence[Withdrawal]:
    query = select(Withdrawal).order_by(col(Withdrawal.id).desc()).limit(limit)
    if leader_id is not None:
        query = query.where(Withdrawal.leader_id == leader_id)
    if status is not None:
        query = query.where(Withdrawal.status == status)
    if before_id is not None:
        query = query.where(col(Withdrawal.id) < before_id)
    return (await session.exec(query)).all()
