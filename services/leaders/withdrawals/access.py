"""The withdrawal guard: load it and check the caller in one call."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.leaders.withdrawals import repository
from services.leaders.withdrawals.exceptions import WithdrawalNotFound
from services.leaders.withdrawals.models import Withdrawal


async def readable_withdrawal(session: AsyncSession, withdrawal_id: int, user: Principal) -> Withdrawal:
    """The withdrawal, if the caller is its leader or ops; WITHDRAWAL_NOT_FOUND otherwise (ids cannot be probed)."""
    withdrawal = await repository.get_withdrawal(session, withdrawal_id)
    if withdrawal is None or not (user.is_ops or user.is_leader_of(withdrawal.leader_id)):
        raise WithdrawalNotFound(f"Withdrawal {withdrawal_id} does not exist")
    return withdrawal
