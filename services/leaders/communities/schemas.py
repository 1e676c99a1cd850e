from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from services.leaders.communities.models import MembershipAction, MembershipChangeReason


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
