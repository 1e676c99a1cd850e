from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.leaders.communities.models import MembershipAction, MembershipChangeReason
from services.leaders.profiles.schemas import LeaderPublic


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: str
    leader_id: str
    joined_at: datetime


class JoinResult(MemberRead):
    switched_from: str | None = None


class MembershipEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: str
    leader_id: str
    action: MembershipAction
    reason: MembershipChangeReason
    at: datetime


class MyCommunity(BaseModel):
    """The caller's community: its leader's public profile and pickup point, and the region whose group-buys it
    sees (orders: `GET /api/v1/group-buys?leader_id=`)."""

    leader_id: str
    joined_at: datetime
    leader: LeaderPublic
    region: str | None = Field(description="city/district of the pickup point; null when the leader has set none")
