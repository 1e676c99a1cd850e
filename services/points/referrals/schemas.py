from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.text import Line
from services.points.referrals.models import ReferralStatus

CodeText = Annotated[Line, StringConstraints(to_upper=True, min_length=4, max_length=16)]


class BindRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: CodeText


class BindingRead(BaseModel):
    """The invitee's view of their binding."""

    model_config = ConfigDict(from_attributes=True)

    inviter_id: str
    invitee_id: str
    status: ReferralStatus
    reason: str | None
    bound_at: datetime


class InviteeRead(BaseModel):
    """The inviter's view of one invitee."""

    model_config = ConfigDict(from_attributes=True)

    invitee_id: str
    status: ReferralStatus = Field(description="`qualified` without a reward says why in `reason`")
    reason: str | None
    bound_at: datetime
    qualified_at: datetime | None
    reward_points: int
    rewarded_at: datetime | None


class ReferralsRead(BaseModel):
    code: str = Field(description="Share this code; a friend binds with it")
    invited_by: BindingRead | None
    invitee_count: int
    qualified_count: int
    reward_points_total: int
    invitees: list[InviteeRead] = Field(description="The most recent invitees; all of them at /referrals/me/invitees")


class TierRead(BaseModel):
    invitees: int
    points: int
    reached: bool
    rewarded: bool
    rewarded_points: int | None
    rewarded_at: datetime | None


class TaskRead(BaseModel):
    key: str
    title: str
    progress: int = Field(description="Qualified invitees so far")
    tiers: list[TierRead]


class TasksRead(BaseModel):
    tasks: list[TaskRead]
