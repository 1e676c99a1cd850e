"""Authorization rules of the leaders service that depend on the caller alone.

A leader reads only their own things; staff read other leaders' private data with `leaders.read` on routes that name
it: through any duty but `manager`, every leader's; a manager only the leaders assigned to them (`manager_id`), which
needs the leader's row, so that check lives with the leader (`profiles/access.py`). A leader's private data
(community, commission, withdrawals) answers 403 NOT_YOUR_LEADER_ACCOUNT, since whose data it is shows in the path.

Guards that load an object and check the caller in one call live with their resource (`profiles/access.py`,
`withdrawals/access.py`); they report someone else's object as missing, so ids cannot be probed.
"""

from __future__ import annotations

from services.common.auth import Principal
from services.common.errors import Forbidden
from services.common.permissions import Permission, StaffRole, permissions_of


class NotYourLeaderAccount(Forbidden):
    code = "NOT_YOUR_LEADER_ACCOUNT"
    title = "A leader can only see their own community, commission and withdrawals"


def reads_every_leader(user: Principal) -> bool:
    """Staff holding `leaders.read` on this route through a duty other than `manager` (ops, finance, leader
    admins): they read every leader. A manager holds it for their own leaders only."""
    if not user.can(Permission.LEADERS_READ):
        return False
    return Permission.LEADERS_READ in permissions_of(user.roles - {StaffRole.MANAGER})


def manages_own_leaders_only(user: Principal) -> bool:
    """A manager (and nothing wider) on a route naming `leaders.read`: scoped to the leaders assigned to them."""
    return user.can(Permission.LEADERS_READ) and not reads_every_leader(user)


def ensure_the_leader(user: Principal, leader_id: str, *, action: str) -> None:
    """Only the leader themselves, not even ops: `action` is something done in the leader's name."""
    if not user.is_leader_of(leader_id):
        raise NotYourLeaderAccount(f"Only the leader can {action}")


def ensure_reads_every_leader(user: Principal) -> None:
    """Reading across every leader at once is for staff who read every leader."""
    if not reads_every_leader(user):
        raise NotYourLeaderAccount("Only staff who read every leader read their data all at once")
