from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column
from sqlmodel import Field

from services.common.db import timestamp_field
from services.points.db import PointsBase


class PurchaseAward(PointsBase, table=True):
    """Purchase points of one picked-up order (once per order), with the inputs they were computed from.

    Refunds after pickup reverse them proportionally: `reversed_points = floor(points * refunded_fen / base_fen)`
    on the running refunded total, so a full refund reverses exactly what was credited.
    """

    __tablename__ = "points_purchase_awards"
    __table_args__ = (
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= base_fen", name="refunded_within_base"),
        CheckConstraint("reversed_points >= 0 AND reversed_points <= points", name="reversed_within_points"),
    )

    order_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    user_id: str = Field(max_length=64, index=True)
    base_fen: int = Field(sa_type=BigInteger, description="paid - refunded before pickup")
    points: int = Field(sa_type=BigInteger)
    points_per_yuan: int
    rules_version: int
    refunded_fen: int = Field(default=0, sa_type=BigInteger)
    reversed_points: int = Field(default=0, sa_type=BigInteger)
    picked_up_at: datetime = timestamp_field()
    created_at: datetime = timestamp_field()


class RefundApplied(PointsBase, table=True):
    """One row per refund (its id is the key): spent points given back and purchase points reversed, once."""

    __tablename__ = "points_refunds"

    refund_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    order_id: int = Field(sa_type=BigInteger, index=True)
    user_id: str = Field(max_length=64)
    refund_fen: int = Field(sa_type=BigInteger)
    points_returned: int = Field(sa_type=BigInteger)
    picked_up: bool
    purchase_points_reversed: int = Field(default=0, sa_type=BigInteger)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = timestamp_field()
