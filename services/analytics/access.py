"""Who may read a leader's community figures: the leader, and staff with `analytics.read` on a route that names it;
through any duty but `manager`, every leader's figures, through `manager` only those of the leaders assigned to them
(known from `leader.updated` events). Figures across the whole platform need `analytics.platform`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.figures import repository
from services.common.auth import MissingPermission, Principal
from services.common.errors import Forbidden, NotFound
from services.common.permissions import Permission, StaffRole, permissions_of


class NotYourCommunity(Forbidden):
    code = "NOT_YOUR_COMMUNITY"
    title = "Only the leader, the leader's manager and operations staff may read these figures"


class LeaderNotKnown(NotFound):
    code = "LEADER_NOT_FOUND"
    title = "Analytics has no figures for this leader"


def reads_every_leader(user: Principal) -> bool:
    """`analytics.read` on this route through a duty other than `manager` (ops, leader admins)."""
    if not user.can(Permission.ANALYTICS_READ):
        return False
    return Permission.ANALYTICS_READ in permissions_of(user.roles - {StaffRole.MANAGER})


def may_read_leader(user: Principal, *, leader_id: str, manager_id: str | None) -> bool:
    if user.is_leader_of(leader_id) or reads_every_leader(user):
        return True
    return user.can(Permission.ANALYTICS_READ) and manager_id is not None and manager_id == user.sub


async def ensure_can_read_leader(conn: AsyncConnection, user: Principal, leader_id: str) -> None:
    """403 for a caller with no right to this leader's figures; 404 for a leader analytics never heard of."""
    leader = await repository.get_leader(conn, leader_id)
    if not may_read_leader(user, leader_id=leader_id, manager_id=leader.manager_id if leader else None):
        raise NotYourCommunity(f"You cannot read the figures of leader {leader_id}")
    if leader is None:
        raise LeaderNotKnown(f"No events of leader {leader_id} have reached analytics")


def managed_leaders_only(user: Principal) -> str | None:
    """The manager whose leaders a ranking or an alert list is limited to; None for staff who read every leader."""
    if reads_every_leader(user):
        return None
    if user.can(Permission.ANALYTICS_READ):
        return user.sub
    raise MissingPermission("This list is for staff with analytics.read")
