"""The withdrawal guard: load it and check the caller in one call."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.permissions import Permission
from services.leaders.access import manages_own_leaders_only, reads_every_leader
from services.leaders.profiles import repository as profiles
from services.leaders.withdrawals import repository
from services.leaders.withdrawals.exceptions import WithdrawalNotFound
from services.leaders.withdrawals.models import Withdrawal


async def readable_withdrawal(session: AsyncSession, withdrawal_id: int, user: Principal) -> Withdrawal:
    """The withdrawal, if the caller is its leader, decides withdrawals, reads every leader or manages its leader (who
    reads the same withdrawal in the leader's list); WITHDRAWAL_NOT_FOUND otherwise (ids cannot be probed)."""
    withdrawal = await repository.get_withdrawal(session, withdrawal_id)
    if withdrawal is None or not await _may_read(session, user, withdrawal.leader_id):
        raise WithdrawalNotFound(f"Withdrawal {withdrawal_id} does not exist")
    return withdrawal


async def _may_read(session: AsyncSession, user: Principal, leader_id: str) -> bool:
    if user.can(Permission.WITHDRAWALS_DECIDE) or reads_every_leader(user) or user.is_leader_of(leader_id):
        return True
    if manages_own_leaders_only(user):
        leader = await profiles.get_leader(session, leader_id)
        return leader is not None and leader.manager_id == user.sub
    return False
