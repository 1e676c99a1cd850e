from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String
from sqlmodel import Field

from services.accounts.db import AccountsBase
from services.common.db import timestamp_field


class Staff(AccountsBase, table=True):
    """An operations person who signs in with a username and password."""

    __tablename__ = "staff"

    id: str = Field(primary_key=True, max_length=40)
    username: str = Field(max_length=32, unique=True)
    display_name: str = Field(max_length=50)
    contact_phone: str | None = Field(default=None, max_length=20)
    password_hash: str = Field(max_length=255)
    active: bool = True
    failed_attempts: int = 0
    locked_until: datetime | None = timestamp_field(nullable=True)
    # Every change bumps it; a change names the version it read, so two editors never overwrite each other.
    version: int = 1
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class StaffRole(AccountsBase, table=True):
    """One duty of one staff account (rows rather than a list, so "every manager" is an indexed query)."""

    __tablename__ = "staff_roles"
    __table_args__ = (
        CheckConstraint(
            "role IN ('ops', 'catalogue', 'finance', 'leader_admin', 'support', 'manager')", name="role_known"
        ),
    )

    staff_id: str = Field(sa_column=Column(String(40), ForeignKey("staff.id"), primary_key=True))
    role: str = Field(primary_key=True, max_length=16, index=True)
