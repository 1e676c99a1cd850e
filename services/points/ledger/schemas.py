from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.common.text import Line
from services.common.types import INT64_MAX, SignedPoints, UserId
from services.points.ledger.models import PointsEntryKind

Reason = Annotated[Line, StringConstraints(min_length=1, max_length=200)]


class ExpiringPoints(BaseModel):
    points: int
    expires_on: date = Field(description="Last local day the points can be spent")


class AccountRead(BaseModel):
    user_id: str
    balance: int = Field(description="Points that can be spent now; negative when points are owed")
    held: int = Field(description="Points reserved for unpaid orders")
    lifetime_earned: int
    owed: int = Field(description="Points owed after a reversal; new points pay this off first")
    expiring: list[ExpiringPoints] = Field(description="Points expiring soon, by date")


class EntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: PointsEntryKind
    points: int = Field(description="Change of the balance")
    balance_after: int
    held_change: int
    held_after: int
    ref: str = Field(description="What caused the entry: a sign-in date, an order, a refund, a task tier ...")
    reason: str | None
    details: dict[str, Any]
    created_at: datetime


class OpsEntryRead(EntryRead):
    user_id: str
    actor: str | None = Field(description="Who made a manual adjustment")


class AdjustmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    points: SignedPoints = Field(description="Positive adds points, negative takes them away")
    reason: Reason
    allow_negative: bool = Field(
        default=False, description="Let a negative adjustment take the balance below zero (points owed)"
    )

    @field_validator("points")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("an adjustment must change the balance")
        if abs(value) > INT64_MAX // 2:
            raise ValueError("adjustment too large")
        return value
