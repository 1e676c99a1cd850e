from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.types import BasisPoints, Points

Count = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
PositiveCount = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]


class TaskTier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    invitees: PositiveCount = Field(description="Qualified invitees needed to reach this tier")
    points: Points = Field(description="Points rewarded once when the tier is reached")


class Rules(BaseModel):
    """The earning and spending rules. Defaults are what is in force until ops first change them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signin_schedule: list[Points] = Field(
        default=[5, 5, 10, 10, 15, 15, 30],
        min_length=1,
        max_length=31,
        description="Points for day 1, 2, ... of a streak; after the last day the schedule repeats",
    )
    newcomer_points: Points = Field(default=100, description="Granted once, on the user's first signed-in action")
    purchase_points_per_yuan: Count = Field(
        default=1, description="Points per yuan actually paid (rounded down), credited at pickup"
    )
    invite_reward_points: Points = Field(default=200, description="For the inviter when an invitee completes an order")
    invite_daily_cap: Count = Field(default=5, description="Invite rewards an inviter can receive per business day")
    task_tiers: list[TaskTier] = Field(
        default=[TaskTier(invitees=1, points=50), TaskTier(invitees=3, points=200), TaskTier(invitees=10, points=1000)],
        max_length=20,
        description="Multi-tier invitation task: each tier is rewarded once",
    )
    expiry_months: Annotated[int, Field(strict=True, ge=1, le=120)] = Field(
        default=12, description="Points earned in a month expire at the end of the month this many months later"
    )
    deduction_points_per_yuan: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] = Field(
        default=100, description="Points worth one yuan (100 fen) when spent on an order"
    )
    deduction_max_ratio_bp: BasisPoints = Field(
        default=5000, description="At most this share of an order's goods amount may be paid with points"
    )

    @model_validator(mode="after")
    def _tiers_strictly_increasing(self) -> Rules:
        thresholds = [t.invitees for t in self.task_tiers]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("task_tiers must have strictly increasing `invitees`")
        return self


class RulesRead(Rules):
    version: int = Field(description="0 until ops first change the rules")
    created_by: str | None
    created_at: datetime | None


class DeductionRule(BaseModel):
    points_per_yuan: int
    max_ratio_bp: int
