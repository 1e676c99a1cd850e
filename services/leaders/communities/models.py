from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field

from services.common.db import timestamp_field
from services.common.sql import enum_field
from services.leaders.db import LeadersBase


class MembershipAction(StrEnum):
    JOINED = "joined"
    LEFT = "left"


class MembershipChangeReason(StrEnum):
    """Why a customer joined or left: a first join, a switch between communities (one left, one joined), a leave."""

    JOIN = "join"
    SWITCH = "switch"
    LEAVE = "leave"


class Membership(LeadersBase, table=True):
    """A customer's current community. The unique customer id is what makes "one community at a time" hold."""

    __tablename__ = "community_members"
    __table_args__ = (Index("ix_community_members_leader_id_id", "leader_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(max_length=64, unique=True)
    leader_id: str = Field(max_length=64)
    joined_at: datetime = timestamp_field()


class MembershipEvent(LeadersBase, table=True):
    """Every join and leave, kept for good: the community analytics count these."""

    __tablename__ = "community_member_history"
    __table_args__ = (
        CheckConstraint("action IN ('joined', 'left')", name="action_known"),
        Index("ix_community_member_history_leader_id_at", "leader_id", "at"),
        Index("ix_community_member_history_customer_id_id", "customer_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(max_length=64)
    leader_id: str = Field(max_length=64)
    action: MembershipAction = enum_field(MembershipAction, max_length=8)
    reason: MembershipChangeReason = enum_field(MembershipChangeReason, max_length=16)
    at: datetime = timestamp_field()
