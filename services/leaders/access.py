"""Object-level authorization in the leaders service: a leader reads only their own things, ops read all.

Each guard that takes an id loads the object and checks the caller in one call. Someone else's application or
withdrawal is reported as missing, so ids cannot be probed; a leader's private data (community, commission,
withdrawals) answers 403 NOT_YOUR_LEADER_ACCOUNT, since whose data it is shows in the path anyway.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal, Role
from services.common.errors import Forbidden
from services.leaders.profiles import repository as profiles_repository
from services.leaders.profiles.exceptions import ApplicationNotFound
from services.leaders.profiles.models import LeaderApplication
from services.leaders.withdrawals import repository as withdrawals_repository
from services.leaders.withdrawals.exceptions import WithdrawalNotFound
from services.leaders.withdrawals.models import Withdrawal


class NotYourLeaderAccount(Forbidden):
    code = "NOT_YOUR_LEADER_ACCOUNT"
    title = "A leader can only see their own community, commission and withdrawals"


def _is_leader(user: Principal, leader_id: str) -> bool:
    return user.has(Role.LEADER) and user.sub == leader_id


def ensure_leader_or_ops(user: Principal, leader_id: str) -> None:
    """Ops (and services) see every leader; a leader only themselves; anyone else nothing."""
    if user.is_ops or _is_leader(user, leader_id):
        return
    raise NotYourLeaderAccount(f"You cannot read leader {leader_id}'s private data")


def ensure_the_leader(user: Principal, leader_id: str, *, action: str) -> None:
    """Only the leader themselves, not even ops: `action` is something done in the leader's name."""
    if not _is_leader(user, leader_id):
        raise NotYourLeaderAccount(f"Only the leader can {action}")


def ensure_ops_for_all_leaders(user: Principal) -> None:
    """Reading across every leader at once is for ops."""
    if not user.is_ops:
        raise NotYourLeaderAccount("Only ops read every leader's data at once")


def sees_full_profile(user: Principal, leader_id: str) -> bool:
    """The leader themselves and ops see the whole profile (phone, manager); everyone else the public part."""
    return user.is_ops or user.sub == leader_id


async def readable_application(session: AsyncSession, application_id: int, user: Principal) -> LeaderApplication:
    """The application, if the caller made it or is ops; APPLICATION_NOT_FOUND otherwise."""
    application = await profiles_repository.get_application(session, application_id)
    if application is None or not (user.is_ops or application.applicant_id == user.sub):
        raise ApplicationNotFound(f"Application {application_id} does not exist")
    return application


async def readable_withdrawal(session: AsyncSession, withdrawal_id: int, user: Principal) -> Withdrawal:
    """The withdrawal, if the caller is its leader or ops; WITHDRAWAL_NOT_FOUND otherwise."""
    withdrawal = await withdrawals_repository.get_withdrawal(session, withdrawal_id)
    if withdrawal is None or not (user.is_ops or _is_leader(user, withdrawal.leader_id)):
        raise WithdrawalNotFound(f"Withdrawal {withdrawal_id} does not exist")
    return withdrawal
