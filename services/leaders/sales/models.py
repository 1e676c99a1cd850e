from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field

from services.common.db import UTCDateTime
from services.leaders.db import LeadersBase


class LeaderOrder(LeadersBase, table=True):
    """A paid order at a leader's pickup point: what sales (by payment date) and completed orders are counted from."""

    __tablename__ = "leader_orders"
    __table_args__ = (
        Index("ix_leader_orders_leader_id_paid_at", "leader_id", "paid_at"),
        Index("ix_leader_orders_leader_id_picked_up_at", "leader_id", "picked_up_at"),
    )

    order_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    leader_id: str = Field(max_length=64)
    customer_id: str = Field(max_length=64)
    paid_fen: int = Field(sa_type=BigInteger)
    refunded_fen: int = Field(default=0, sa_type=BigInteger)  # all refunds of the order, whenever they were made
    paid_at: datetime = Field(sa_type=UTCDateTime)
    picked_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LeaderRefund(LeadersBase, table=True):
    """A refund of an order at a leader's pickup point, dated when it was made: net sales subtract it in the period
    of `refunded_at`, whenever the order was paid (docs/metrics.md, "Sales: one meaning")."""

    __tablename__ = "leader_refunds"
    __table_args__ = (Index("ix_leader_refunds_leader_id_refunded_at", "leader_id", "refunded_at"),)

    refund_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    order_id: int = Field(sa_type=BigInteger)
    leader_id: str = Field(max_length=64)
    refund_fen: int = Field(sa_type=BigInteger)
    refunded_at: datetime = Field(sa_type=UTCDateTime)
