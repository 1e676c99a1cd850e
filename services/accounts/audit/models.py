from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field

from services.accounts.db import AccountsBase
from services.common.db import id_field, timestamp_field


class AuditEntry(AccountsBase, table=True):
    """One staff action: who, when, on what, and the values before and after it.

    Append-only: the migration installs triggers that refuse UPDATE and DELETE on both databases, and no route
    changes an entry. `event_id` is unique, so an `audit.recorded` event delivered twice is kept once.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_actor_id", "actor", "id"),
        Index("ix_audit_entries_target_id", "target_type", "target_id", "id"),
        Index("ix_audit_entries_action_id", "action", "id"),
        Index("ix_audit_entries_at", "at"),
    )

    id: int | None = id_field()
    event_id: str = Field(max_length=64, unique=True)
    service: str = Field(max_length=50)
    actor: str = Field(max_length=64)
    # The staff member's username when the action was recorded (None for the CLI and unknown ids); kept, not joined,
    # so the trail still names them after a rename.
    actor_username: str | None = Field(default=None, max_length=32)
    actor_roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    action: str = Field(max_length=64)
    target_type: str = Field(max_length=32)
    target_id: str = Field(max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    at: datetime = timestamp_field()
    recorded_at: datetime = timestamp_field()
