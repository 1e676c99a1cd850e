"""The level ladder: the levels by rank and every move of a leader on it. Plain data that profiles (a leader's
level, set by ops or at approval), commission (level rules) and levels (evaluation) all read and write, so it sits
below them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Index
from sqlmodel import Field

from services.common.db import UTCDateTime, timestamp_field
from services.common.sql import enum_field
from services.leaders.db import LeadersBase


class LevelChangeDirection(StrEnum):
    PROMOTED = "promoted"  # by the level evaluation, to a higher rank
    DEMOTED = "demoted"  # by the level evaluation, to a lower rank or none
    SET = "set"  # by ops, or at approval


class Level(LeadersBase, table=True):
    """A leader level: the thresholds on the last 30 days that earn it, and its commission rate."""

    __tablename__ = "levels"
    __table_args__ = (
        CheckConstraint("min_sales_fen >= 0", name="min_sales_not_negative"),
        CheckConstraint("min_completed_orders >= 0", name="min_orders_not_negative"),
    )

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=50)
    rank: int = Field(unique=True)
    min_sales_fen: int = Field(sa_type=BigInteger)
    min_completed_orders: int
    rate_bp: int | None = None
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class LevelChange(LeadersBase, table=True):
    """One move of a leader between levels, with the figures it was based on."""

    __tablename__ = "level_changes"
    __table_args__ = (Index("ix_level_changes_leader_id_id", "leader_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    leader_id: str = Field(max_length=64)
    from_level: str | None = Field(default=None, max_length=32)
    to_level: str | None = Field(default=None, max_length=32)
    direction: LevelChangeDirection = enum_field(LevelChangeDirection, max_length=16)
    sales_fen: int | None = Field(default=None, sa_type=BigInteger)
    completed_orders: int | None = None
    window_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    window_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    changed_by: str = Field(max_length=64)
    at: datetime = timestamp_field()
