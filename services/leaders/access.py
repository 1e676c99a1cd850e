"""Object-level authorization shared by the leaders routers: a leader reads only their own things, ops read all."""

from __future__ import annotations

from services.common.auth import Principal
from services.common.errors import Forbidden


class NotYourLeaderAccount(Forbidden):
    code = "NOT_YOUR_LEADER_ACCOUNT"
    title = "A leader can only see their own community, commission and withdrawals"


def ensure_leader_or_ops(user: Principal, leader_id: str) -> None:
    """Ops (and services) see every leader; a leader only themselves; anyone else nothing."""
    if user.is_ops:
        return
    if user.has("leader") and user.sub == leader_id:
        return
    raise NotYourLeaderAccount(f"You cannot read leader {leader_id}'s private data")
