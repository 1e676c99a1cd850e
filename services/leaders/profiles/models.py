from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field

from services.common.db import timestamp_field
from services.common.sql import enum_field
from services.leaders.db import LeadersBase


class LeaderApplicationStatus(StrEnum):
    """pending until ops decide: approved (the applicant becomes a leader) or rejected."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class LeaderStatus(StrEnum):
    """A suspended leader's pickup point takes no orders and no new members."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class LeaderApplication(LeadersBase, table=True):
    __tablename__ = "leader_applications"
    __table_args__ = (CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),)

    id: int | None = Field(default=None, primary_key=True)
    applicant_id: str = Field(max_length=64, index=True)
    # The applicant id while the application is pending, NULL once decided. NULLs never collide in a unique index
    # (SQLite and PostgreSQL alike), so this gives "one pending application per applicant" without check-then-insert.
    pending_key: str | None = Field(default=None, max_length=64, unique=True)
    name: str = Field(max_length=50)
    phone: str = Field(max_length=20)
    pickup_name: str = Field(max_length=100)
    pickup_address: str = Field(max_length=200)
    pickup_community: str = Field(max_length=100)
    city: str | None = Field(default=None, max_length=30)
    district: str | None = Field(default=None, max_length=29)
    latitude: float | None = None
    longitude: float | None = None
    opening_hours: str | None = Field(default=None, max_length=100)
    status: LeaderApplicationStatus = enum_field(
        LeaderApplicationStatus, max_length=16, default=LeaderApplicationStatus.PENDING
    )
    reason: str | None = Field(default=None, max_length=500)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field()


class Leader(LeadersBase, table=True):
    """A group leader; `leader_id` is the leader user's JWT `sub`."""

    __tablename__ = "leaders"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended')", name="status_known"),
        # Pickup points near a customer: a bounding box on this index, then the exact distance.
        Index("ix_leaders_latitude_longitude", "latitude", "longitude"),
    )

    leader_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=50)
    phone: str = Field(max_length=20)
    status: LeaderStatus = enum_field(LeaderStatus, max_length=16, default=LeaderStatus.ACTIVE, index=True)
    level: str | None = Field(default=None, max_length=32)
    manager_id: str | None = Field(default=None, max_length=64, index=True)
    application_id: int | None = None
    pickup_name: str = Field(max_length=100)
    pickup_address: str = Field(max_length=200)
    pickup_community: str = Field(max_length=100)
    #: The region of the pickup point (city, district): its community sees the group-buys of that region.
    city: str | None = Field(default=None, max_length=30)
    district: str | None = Field(default=None, max_length=29)
    latitude: float | None = None
    longitude: float | None = None
    opening_hours: str | None = Field(default=None, max_length=100)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class ManagerContact(LeadersBase, table=True):
    """A staff member as accounts last described them (`staff.updated`): what a leader sees of their manager."""

    __tablename__ = "manager_contacts"

    staff_id: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(max_length=50)
    contact_phone: str | None = Field(default=None, max_length=24)
    active: bool
    is_manager: bool
    #: When accounts made the change described: an older event never overwrites a newer one.
    changed_at: datetime = timestamp_field()


class LeaderChange(LeadersBase, table=True):
    """Who changed what on a leader, and why (status, level, manager, pickup point)."""

    __tablename__ = "leader_changes"
    __table_args__ = (Index("ix_leader_changes_leader_id_id", "leader_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    leader_id: str = Field(max_length=64)
    field: str = Field(max_length=32)
    old_value: str | None = Field(default=None, max_length=300)
    new_value: str | None = Field(default=None, max_length=300)
    changed_by: str = Field(max_length=64)
    reason: str | None = Field(default=None, max_length=500)
    at: datetime = timestamp_field()
