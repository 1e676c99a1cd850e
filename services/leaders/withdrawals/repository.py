"""All SQL about withdrawals (their money moves through the commission ledger's `post_entry`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

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


async def move_withdrawal(
    session: AsyncSession, withdrawal_id: int, *, expected: WithdrawalStatus, values: dict[str, Any]
) -> bool:
    """Change a withdrawal only if it is still in the `expected` status; False when someone moved it first."""
    result = await session.exec(
        update(Withdrawal)
        .where(col(Withdrawal.id) == withdrawal_id, col(Withdrawal.status) == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def ids_to_pay_out(session: AsyncSession, *, up_to_fen: int, limit: int) -> Sequence[int]:
    """Requested withdrawals small enough to be approved without a finance user, oldest first."""
    query = (
        select(Withdrawal.id)
        .where(col(Withdrawal.status) == WithdrawalStatus.REQUESTED, col(Withdrawal.amount_fen) <= up_to_fen)
        .order_by(col(Withdrawal.id))
        .limit(limit)
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def paying_ids(session: AsyncSession, *, limit: int) -> Sequence[int]:
    query = (
        select(Withdrawal.id)
        .where(col(Withdrawal.status) == WithdrawalStatus.PAYING)
        .order_by(col(Withdrawal.id))
        .limit(limit)
    )
    return [i for i in (await session.exec(query)).all() if i is not None]
