from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Index
from sqlmodel import Field

from services.common.db import timestamp_field
from services.common.sql import enum_field
from services.leaders.db import LeadersBase


class WithdrawalStatus(StrEnum):
    """requested until approved (by finance, or automatically up to `LEADERS_WITHDRAWAL_AUTO_APPROVE_FEN`) or
    rejected (the amount goes back to available). Approved: paying while the provider pays, then paid, or failed
    when the provider could not pay (the amount goes back to available)."""

    REQUESTED = "requested"
    PAYING = "paying"
    PAID = "paid"
    REJECTED = "rejected"
    FAILED = "failed"


class Withdrawal(LeadersBase, table=True):
    __tablename__ = "withdrawals"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status IN ('requested', 'paying', 'paid', 'rejected', 'failed')", name="status_known"),
        Index("ix_withdrawals_leader_id_id", "leader_id", "id"),
        Index("ix_withdrawals_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    leader_id: str = Field(max_length=64)
    amount_fen: int = Field(sa_type=BigInteger)
    status: WithdrawalStatus = enum_field(WithdrawalStatus, max_length=16, default=WithdrawalStatus.REQUESTED)
    requested_at: datetime = timestamp_field()
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = timestamp_field(nullable=True)
    reason: str | None = Field(default=None, max_length=500)
    payout_ref: str | None = Field(default=None, max_length=100)
    #: What the provider last said of the payout (`PayoutState`), and while the leader must confirm receipt in the
    #: mini-program, what it passes to `wx.requestMerchantTransfer`.
    payout_state: str | None = Field(default=None, max_length=32)
    payout_package: str | None = Field(default=None, max_length=512)
