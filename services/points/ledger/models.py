from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Date, Index, Integer, UniqueConstraint
from sqlmodel import Field

from services.common.db import timestamp_field
from services.common.sql import enum_field
from services.points.db import PointsBase

#: SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class PointsEntryKind(StrEnum):
    """What a ledger entry records. Earned: SIGNIN..TASK and a positive ADJUSTMENT; the rest move held points or
    take points back."""

    SIGNIN = "signin"
    NEWCOMER = "newcomer"
    PURCHASE = "purchase"
    REFERRAL = "referral"
    TASK = "task"
    ADJUSTMENT = "adjustment"
    HOLD = "hold"  # balance -> held, for an unpaid order
    RELEASE = "release"  # held -> balance, the order was cancelled or never paid
    SPEND = "spend"  # held -> gone, the order was paid
    REFUND_RETURN = "refund_return"  # spent points given back for refunded lines
    PURCHASE_REVERSAL = "purchase_reversal"  # purchase points taken back for refunded lines
    EXPIRE = "expire"


class Account(PointsBase, table=True):
    """One per user. `balance` may go below zero (points owed after a reversal); `held` never does."""

    __tablename__ = "points_accounts"
    __table_args__ = (
        CheckConstraint("held >= 0", name="held_not_negative"),
        CheckConstraint("lifetime_earned >= 0", name="lifetime_earned_not_negative"),
    )

    user_id: str = Field(primary_key=True, max_length=64)
    balance: int = Field(default=0, sa_type=BigInteger)
    held: int = Field(default=0, sa_type=BigInteger)
    lifetime_earned: int = Field(default=0, sa_type=BigInteger)
    newcomer_awarded_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class Entry(PointsBase, table=True):
    """An immutable ledger line. `points` changes the balance, `held_change` the held amount; the `*_after`
    columns are the account right after this entry, so every entry can be checked against the running sum."""

    __tablename__ = "points_entries"
    __table_args__ = (
        # One effect per (user, kind, reference): a sign-in date, an order, a refund, a lot, a task tier...
        UniqueConstraint("user_id", "kind", "ref"),
        Index("ix_points_entries_user_id_id", "user_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(ID_TYPE, primary_key=True, autoincrement=True))
    user_id: str = Field(max_length=64)
    kind: PointsEntryKind = enum_field(PointsEntryKind, max_length=32)
    points: int = Field(sa_type=BigInteger)
    balance_after: int = Field(sa_type=BigInteger)
    held_change: int = Field(default=0, sa_type=BigInteger)
    held_after: int = Field(default=0, sa_type=BigInteger)
    ref: str = Field(max_length=100)
    reason: str | None = Field(default=None, max_length=200)
    actor: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = timestamp_field()


class Lot(PointsBase, table=True):
    """Points earned together, with one expiry date. Spending takes from the lots expiring first.

    `remaining` is what is left to spend; `expired` what the expiry job took. Over all lots of a user,
    sum(remaining) == max(balance, 0): points held for an order are taken out of their lots when held.
    """

    __tablename__ = "points_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("remaining <= points", name="remaining_within_points"),
        Index("ix_points_lots_user_id_expires_on", "user_id", "expires_on", "id"),
        Index("ix_points_lots_expires_on_remaining", "expires_on", "remaining"),
    )

    id: int | None = Field(default=None, sa_column=Column(ID_TYPE, primary_key=True, autoincrement=True))
    user_id: str = Field(max_length=64)
    entry_id: int = Field(sa_type=BigInteger)
    points: int = Field(sa_type=BigInteger)
    remaining: int = Field(sa_type=BigInteger)
    expired: int = Field(default=0, sa_type=BigInteger)
    expires_on: date = Field(sa_type=Date)
    created_at: datetime = timestamp_field()
