from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Date, Index, String
from sqlmodel import Field

from services.common.db import timestamp_field
from services.common.sql import enum_field
from services.points.db import PointsBase


class ReferralStatus(StrEnum):
    BOUND = "bound"  # waiting for the invitee's first completed order
    REWARDED = "rewarded"  # qualified, the inviter got the reward
    QUALIFIED = "qualified"  # qualified, no reward paid (the daily cap, or a zero reward); `reason` says why
    INELIGIBLE = "ineligible"  # bound, but the invitee had completed orders before: never qualifies


class InviteCode(PointsBase, table=True):
    __tablename__ = "points_invite_codes"

    user_id: str = Field(primary_key=True, max_length=64)
    code: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    created_at: datetime = timestamp_field()


class Referral(PointsBase, table=True):
    """The invitee's one binding to an inviter (the primary key makes it once per invitee)."""

    __tablename__ = "points_referrals"
    __table_args__ = (
        CheckConstraint("inviter_id <> invitee_id", name="no_self_invite"),
        Index("ix_points_referrals_inviter_id_bound_at", "inviter_id", "bound_at"),
    )

    invitee_id: str = Field(primary_key=True, max_length=64)
    inviter_id: str = Field(max_length=64)
    code: str = Field(max_length=16)
    status: ReferralStatus = enum_field(ReferralStatus, max_length=16)
    reason: str | None = Field(default=None, max_length=200)
    order_id: int | None = Field(default=None, sa_type=BigInteger)
    reward_points: int = Field(default=0, sa_type=BigInteger)
    bound_at: datetime = timestamp_field()
    qualified_at: datetime | None = timestamp_field(nullable=True)
    rewarded_at: datetime | None = timestamp_field(nullable=True)


class InviterDailyRewards(PointsBase, table=True):
    """Invite rewards paid to an inviter on one business day; the guarded increment enforces the daily cap."""

    __tablename__ = "points_inviter_daily_rewards"
    __table_args__ = (CheckConstraint("rewards >= 0", name="rewards_not_negative"),)

    inviter_id: str = Field(primary_key=True, max_length=64)
    day: date = Field(sa_column=Column(Date, primary_key=True))
    rewards: int = 0


class TaskReward(PointsBase, table=True):
    """One row per (user, tier) reached: each tier of the invitation task is rewarded once."""

    __tablename__ = "points_task_rewards"

    user_id: str = Field(primary_key=True, max_length=64)
    tier_invitees: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    points: int = Field(sa_type=BigInteger)
    qualified_invitees: int
    rules_version: int
    created_at: datetime = timestamp_field()
