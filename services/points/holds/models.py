from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Index
from sqlmodel import Field

from services.common.db import timestamp_field
from services.common.sql import enum_field
from services.points.db import PointsBase


class HoldStatus(StrEnum):
    """held until the order is paid (committed) or cancelled or expired (released); a release that arrives after
    the payment committed never undoes it."""

    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"


class Hold(PointsBase, table=True):
    """Points reserved for one order (the order id is the idempotency key). held -> committed | released."""

    __tablename__ = "points_holds"
    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("points_returned >= 0 AND points_returned <= points", name="returned_within_points"),
        Index("ix_points_holds_status_expires_at", "status", "expires_at"),
    )

    order_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    user_id: str = Field(max_length=64, index=True)
    points: int = Field(sa_type=BigInteger)
    goods_fen: int = Field(sa_type=BigInteger)
    discount_fen: int = Field(sa_type=BigInteger)
    rules_version: int
    status: HoldStatus = enum_field(HoldStatus, max_length=16)
    points_returned: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    settled_at: datetime | None = timestamp_field(nullable=True)


class HoldLot(PointsBase, table=True):
    """Which lots a hold took its points from, so a release puts them back where they were."""

    __tablename__ = "points_hold_lots"

    order_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    lot_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    points: int = Field(sa_type=BigInteger)
