from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


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
    action: Literal["joined", "left"]
    reason: Literal["join", "switch", "leave"]
    at: datetime
