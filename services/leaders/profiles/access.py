"""Guards over applications and leaders: load and check the caller in one call."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.leaders.access import NotYourLeaderAccount, manages_own_leaders_only, reads_every_leader
from services.leaders.profiles import repository
from services.leaders.profiles.exceptions import ApplicationNotFound, LeaderAccountSuspended, LeaderNotFound
from services.leaders.profiles.models import Leader, LeaderApplication, LeaderStatus


async def readable_application(session: AsyncSession, application_id: int, user: Principal) -> LeaderApplication:
    """The application, if the caller made it or reads every leader; APPLICATION_NOT_FOUND otherwise (ids cannot be
    probed)."""
    application = await repository.get_application(session, application_id)
    if application is None or not (reads_every_leader(user) or application.applicant_id == user.sub):
        raise ApplicationNotFound(f"Application {application_id} does not exist")
    return application


def manages(user: Principal, leader: Leader) -> bool:
    """The caller is this leader's manager, reading on a route that names `leaders.read`."""
    return manages_own_leaders_only(user) and leader.manager_id == user.sub


def sees_full_profile(user: Principal, leader: Leader) -> bool:
    """The leader themselves, staff who read every leader, and the leader's manager see the whole profile (phone,
    manager); everyone else the public part."""
    return user.sub == leader.leader_id or reads_every_leader(user) or manages(user, leader)


async def ensure_reads_leader(session: AsyncSession, user: Principal, leader_id: str) -> None:
    """The leader's private data (community, commission, withdrawals, history) is for the leader, staff who read
    every leader and the leader's manager: 403 NOT_YOUR_LEADER_ACCOUNT for anyone else."""
    if user.is_leader_of(leader_id) or reads_every_leader(user):
        return
    if manages_own_leaders_only(user):
        leader = await repository.get_leader(session, leader_id)
        if leader is not None and leader.manager_id == user.sub:
            return
    raise NotYourLeaderAccount(f"You cannot read leader {leader_id}'s private data")


async def acting_leader(session: AsyncSession, user: Principal, leader_id: str) -> Leader:
    """The leader, for something they do themselves: refused the moment they are suspended, whatever their
    (still valid) token says."""
    leader = await repository.get_leader(session, leader_id)
    if leader is None:
        raise LeaderNotFound(f"Leader {leader_id} does not exist")
    if leader.status != LeaderStatus.ACTIVE:
        raise LeaderAccountSuspended(f"Leader {leader_id} is suspended")
    return leader
