"""Authorization rules of the leaders service that depend on the caller and a leader id alone: a leader reads only
their own things, ops read all. A leader's private data (community, commission, withdrawals) answers 403
NOT_YOUR_LEADER_ACCOUNT, since whose data it is shows in the path anyway.

Guards that load an object and check the caller in one call live with their resource (`profiles/access.py`,
`withdrawals/access.py`); they report someone else's object as missing, so ids cannot be probed.
"""

from __future__ import annotations

from services.common.auth import Principal
from services.common.errors import Forbidden


class NotYourLeaderAccount(Forbidden):
    code = "NOT_YOUR_LEADER_ACCOUNT"
    title = "A leader can only see their own community, commission and withdrawals"


def ensure_leader_or_ops(user: Principal, leader_id: str) -> None:
    """Ops (and services) see every leader; a leader only themselves; anyone else nothing."""
    if user.is_ops or user.is_leader_of(leader_id):
        return
    raise NotYourLeaderAccount(f"You cannot read leader {leader_id}'s private data")


def ensure_the_leader(user: Principal, leader_id: str, *, action: str) -> None:
    """Only the leader themselves, not even ops: `action` is something done in the leader's name."""
    if not user.is_leader_of(leader_id):
        raise NotYourLeaderAccount(f"Only the leader can {action}")


def ensure_ops_for_all_leaders(user: Principal) -> None:
    """Reading across every leader at once is for ops."""
    if not user.is_ops:
        raise NotYourLeaderAccount("Only ops read every leader's data at once")


def sees_full_profile(user: Principal, leader_id: str) -> bool:
    """The leader themselves and ops see the whole profile (phone, manager); everyone else the public part."""
    return user.is_ops or user.sub == leader_id
