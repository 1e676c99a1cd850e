"""Who may read a leader's community figures: the leader, the leader's manager, and ops.

The one place to adapt when staff roles change: routers call `ensure_can_read_leader` for one community and
`managed_leaders_only` for lists over leaders. A leader's manager is known from `leader.updated` events.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.figures import repository
from services.common.auth import MissingRole, Principal
from services.common.errors import Forbidden, NotFound

MANAGER_ROLE = "manager"


class NotYourCommunity(Forbidden):
    code = "NOT_YOUR_COMMUNITY"
    title = "Only the leader, the leader's manager and operations staff may read these figures"


class LeaderNotKnown(NotFound):
    code = "LEADER_NOT_FOUND"
    title = "Analytics has no figures for this leader"


def may_read_leader(user: Principal, *, leader_id: str, manager_id: str | None) -> bool:
    if user.is_ops:
        return True
    if user.has("leader") and user.sub == leader_id:
        return True
    return user.has(MANAGER_ROLE) and manager_id is not None and manager_id == user.sub


async def ensure_can_read_leader(conn: AsyncConnection, user: Principal, leader_id: str) -> None:
    """403 for a caller with no right to this leader's figures; 404 for a leader analytics never heard of."""
    leader = await repository.get_leader(conn, leader_id)
    if not may_read_leader(user, leader_id=leader_id, manager_id=leader.manager_id if leader else None):
        raise NotYourCommunity(f"You cannot read the figures of leader {leader_id}")
    if leader is None:
        raise LeaderNotKnown(f"No events of leader {leader_id} have reached analytics")


def managed_leaders_only(user: Principal) -> str | None:
    """The manager whose leaders a ranking or an alert list is limited to; None for ops (every leader)."""
    if user.is_ops:
        return None
    if user.has(MANAGER_ROLE):
        return user.sub
    raise MissingRole("This list is for operations staff and managers")
