from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String
from sqlmodel import Field

from services.accounts.db import AccountsBase
from services.common.db import timestamp_field


class LoginSession(AccountsBase, table=True):
    """One sign-in and every refresh token rotated from it (a token family). Revoking it ends them all."""

    __tablename__ = "login_sessions"
    __table_args__ = (
        CheckConstraint("subject_kind IN ('user', 'staff')", name="subject_kind_known"),
        Index("ix_login_sessions_subject_live", "subject_id", "revoked_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    subject_id: str = Field(max_length=64)
    subject_kind: str = Field(max_length=8)
    created_at: datetime = timestamp_field()
    revoked_at: datetime | None = timestamp_field(nullable=True)
    revoked_reason: str | None = Field(default=None, max_length=32)


class RefreshToken(AccountsBase, table=True):
    """A refresh token, kept only as its SHA-256. `used_at` is set by the one refresh that may use it."""

    __tablename__ = "refresh_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(sa_column=Column(String(40), ForeignKey("login_sessions.id"), nullable=False, index=True))
    issued_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field(index=True)
    used_at: datetime | None = timestamp_field(nullable=True)
