from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, ForeignKey, String, UniqueConstraint
from sqlmodel import Field

from services.accounts.db import AccountsBase
from services.common.db import timestamp_field


class User(AccountsBase, table=True):
    """A person who signed in with WeChat. `id` is their JWT `sub` everywhere in the platform."""

    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=64)
    nickname: str | None = Field(default=None, max_length=32)
    avatar_url: str | None = Field(default=None, max_length=500)
    region: str | None = Field(default=None, max_length=64)
    birthday: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    phone: str | None = Field(default=None, max_length=20)  # without the country code
    phone_country_code: str | None = Field(default=None, max_length=8)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
    # Set when the person asked to be forgotten: every field above is cleared, the id stays for money records.
    erased_at: datetime | None = timestamp_field(nullable=True)


class WeChatIdentity(AccountsBase, table=True):
    """Which WeChat account signs in as which user: by unionid when WeChat gives one, else by (appid, openid)."""

    __tablename__ = "wechat_identities"
    __table_args__ = (UniqueConstraint("appid", "openid"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(sa_column=Column(String(64), ForeignKey("users.id"), nullable=False, index=True))
    appid: str = Field(max_length=64)
    openid: str = Field(max_length=128)
    # NULLs never collide in a unique index (SQLite and PostgreSQL alike): unique where present.
    unionid: str | None = Field(default=None, max_length=128, unique=True)
    created_at: datetime = timestamp_field()


class LeaderRole(AccountsBase, table=True):
    """What leaders last told us about a user's leadership (`leader.status_changed`); the token says `leader` while
    the status is active. Kept for ids without a users row too (users created by dev tokens, imports)."""

    __tablename__ = "leader_roles"

    user_id: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=16)  # leaders' word ("active", "suspended"); only "active" gives the role
    changed_at: datetime = timestamp_field()  # when leaders changed it (the event's `at`), to ignore older news
    event_id: str = Field(max_length=64)
