"""The guard over a leader's figures: load the leader analytics knows and check the caller in one call."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.access import LeaderNotKnown, NotYourCommunity, may_read_leader
from services.analytics.figures import repository
from services.common.auth import Principal


async def ensure_can_read_leader(conn: AsyncConnection, user: Principal, leader_id: str) -> None:
    """403 for a caller with no right to this leader's figures; 404 for a leader analytics never heard of."""
    leader = await repository.get_leader(conn, leader_id)
    if not may_read_leader(user, leader_id=leader_id, manager_id=leader.manager_id if leader else None):
        raise NotYourCommunity(f"You cannot read the figures of leader {leader_id}")
    if leader is None:
        raise LeaderNotKnown(f"No events of leader {leader_id} have reached analytics")
