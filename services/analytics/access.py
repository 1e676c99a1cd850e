"""Who may read a leader's community figures: the leader, and staff with `analytics.read` on a route that names it;
through any duty but `manager`, every leader's figures, through `manager` only those of the leaders assigned to them
(known from `leader.updated` events). Figures across the whole platform need `analytics.platform`.

These are the rules about the caller alone; the guard that loads a leader and checks the caller in one call is
`figures/access.py`.
"""

from __future__ import annotations

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


def managed_leaders_only(user: Principal) -> str | None:
    """The manager whose leaders a ranking or an alert list is limited to; None for staff who read every leader."""
    if reads_every_leader(user):
        return None
    if user.can(Permission.ANALYTICS_READ):
        return user.sub
    raise MissingPermission("This list is for staff with analytics.read")
