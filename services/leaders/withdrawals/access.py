"""The withdrawal guard: load it and check the caller in one call."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.permissions import Permission
from services.leaders.access import reads_every_leader
from services.leaders.withdrawals import repository
from services.leaders.withdrawals.exceptions import WithdrawalNotFound
from services.leaders.withdrawals.models import Withdrawal


async def readable_withdrawal(session: AsyncSession, withdrawal_id: int, user: Principal) -> Withdrawal:
    """The withdrawal, if the caller is its leader, decides withdrawals or reads every leader; WITHDRAWAL_NOT_FOUND
    otherwise (ids cannot be probed)."""
    withdrawal = await repository.get_withdrawal(session, withdrawal_id)
    readable = user.can(Permission.WITHDRAWALS_DECIDE) or reads_every_leader(user)
    if withdrawal is None or not (readable or user.is_leader_of(withdrawal.leader_id)):
        raise WithdrawalNotFound(f"Withdrawal {withdrawal_id} does not exist")
    return withdrawal
