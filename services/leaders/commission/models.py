from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field

from services.common.db import UTCDateTime, timestamp_field
from services.common.sql import enum_field
from services.leaders.db import LeadersBase

#: SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT for the big ledger table.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class CommissionRuleScope(StrEnum):
    """What a rule applies to; a line takes the first match in the order product → level → default."""

    DEFAULT = "default"
    LEVEL = "level"
    PRODUCT = "product"


class CommissionRuleMode(StrEnum):
    PERCENTAGE = "percentage"  # rate_bp of what was paid for the line, rounded down
    PER_ITEM = "per_item"  # amount_fen for each unit
    MARGIN = "margin"  # rate_bp of what was paid minus the cost price snapshotted on the line, rounded down, never < 0


class CommissionAccrualState(StrEnum):
    """pending until the freeze after pickup has passed, then available (settled): which balance it sits in."""

    PENDING = "pending"
    AVAILABLE = "available"


class CommissionExclusion(StrEnum):
    """Why a paid line earns its leader nothing whatever the rules say (the accrual keeps a 0 entry and says why)."""

    OWN_ORDER = "own_order"  # the leader bought it at their own pickup point (LEADERS_COMMISSION_ON_OWN_ORDERS)


class CommissionEntryKind(StrEnum):
    ACCRUAL = "accrual"  # + pending: a paid order line
    SETTLEMENT = "settlement"  # pending → available after the freeze
    REVERSAL = "reversal"  # - pending or available: a refunded line
    WITHDRAWAL = "withdrawal"  # available → in withdrawal: a leader asked to be paid
    WITHDRAWAL_RETURNED = "withdrawal_returned"  # in withdrawal → available: ops rejected it
    WITHDRAWAL_PAID = "withdrawal_paid"  # in withdrawal → withdrawn: paid out to the leader


class CommissionRule(LeadersBase, table=True):
    """A rule is never edited: a change is a new rule with a later `effective_from`."""

    __tablename__ = "commission_rules"
    __table_args__ = (
        CheckConstraint("scope IN ('default', 'level', 'product')", name="scope_known"),
        CheckConstraint("mode IN ('percentage', 'per_item', 'margin')", name="mode_known"),
        Index("ix_commission_rules_scope_effective_from", "scope", "effective_from"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scope: CommissionRuleScope = enum_field(CommissionRuleScope, max_length=16)
    level: str | None = Field(default=None, max_length=32)
    product_id: int | None = Field(default=None, sa_type=BigInteger)
    mode: CommissionRuleMode = enum_field(CommissionRuleMode, max_length=16)
    rate_bp: int | None = None
    amount_fen: int | None = Field(default=None, sa_type=BigInteger)
    effective_from: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp_field()


class CommissionAccount(LeadersBase, table=True):
    """One per leader. `available_fen` may go negative (a reversal after settlement is owed); the rest never."""

    __tablename__ = "commission_accounts"
    __table_args__ = (
        CheckConstraint("pending_fen >= 0", name="pending_not_negative"),
        CheckConstraint("in_withdrawal_fen >= 0", name="in_withdrawal_not_negative"),
        CheckConstraint("withdrawn_fen >= 0", name="withdrawn_not_negative"),
    )

    leader_id: str = Field(primary_key=True, max_length=64)
    pending_fen: int = Field(default=0, sa_type=BigInteger)
    available_fen: int = Field(default=0, sa_type=BigInteger)
    in_withdrawal_fen: int = Field(default=0, sa_type=BigInteger)
    withdrawn_fen: int = Field(default=0, sa_type=BigInteger)
    accrued_fen: int = Field(default=0, sa_type=BigInteger)
    reversed_fen: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = timestamp_field()


class CommissionAccrual(LeadersBase, table=True):
    """The commission of one paid order line, with the snapshot of everything it was computed from."""

    __tablename__ = "commission_accruals"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'available')", name="state_known"),
        CheckConstraint("excluded IS NULL OR excluded IN ('own_order')", name="excluded_known"),
        CheckConstraint("reversed_quantity <= quantity", name="reversed_quantity_bounded"),
        CheckConstraint("reversed_fen <= commission_fen", name="reversed_fen_bounded"),
        Index("ix_commission_accruals_state_picked_up_at", "state", "picked_up_at"),
        Index("ix_commission_accruals_leader_id_created_at", "leader_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    leader_id: str = Field(max_length=64)
    order_id: int = Field(sa_type=BigInteger, index=True)
    line_id: int = Field(sa_type=BigInteger, unique=True)  # one accrual per order line
    product_id: int = Field(sa_type=BigInteger)
    customer_id: str = Field(max_length=64)
    quantity: int
    base_fen: int = Field(sa_type=BigInteger)  # what was paid for the line
    cost_fen: int | None = Field(default=None, sa_type=BigInteger)  # the unit cost price on the line (margin mode)
    rule_id: int | None = None
    rule_scope: CommissionRuleScope | None = enum_field(CommissionRuleScope, max_length=16, default=None)
    mode: CommissionRuleMode | None = enum_field(CommissionRuleMode, max_length=16, default=None)
    rate_bp: int | None = None
    per_item_fen: int | None = Field(default=None, sa_type=BigInteger)
    level: str | None = Field(default=None, max_length=32)
    commission_fen: int = Field(sa_type=BigInteger)
    #: Set when the line earns nothing by a rule above the commission rules (then no rule is recorded either).
    excluded: CommissionExclusion | None = enum_field(CommissionExclusion, max_length=16, default=None)
    reversed_quantity: int = 0
    reversed_fen: int = Field(default=0, sa_type=BigInteger)
    state: CommissionAccrualState = enum_field(
        CommissionAccrualState, max_length=16, default=CommissionAccrualState.PENDING
    )
    paid_at: datetime = Field(sa_type=UTCDateTime)
    picked_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = timestamp_field()


class CommissionReversal(LeadersBase, table=True):
    """The reversal of one refunded line; the unique key makes each (refund, line) reverse once."""

    __tablename__ = "commission_reversals"
    __table_args__ = (UniqueConstraint("refund_id", "line_id"),)

    id: int | None = Field(default=None, primary_key=True)
    accrual_id: int = Field(index=True)
    refund_id: int = Field(sa_type=BigInteger)
    line_id: int = Field(sa_type=BigInteger)
    quantity: int
    amount_fen: int = Field(sa_type=BigInteger)
    source: CommissionAccrualState = enum_field(CommissionAccrualState, max_length=16)  # the balance it came off
    created_at: datetime = timestamp_field()


class CommissionEntry(LeadersBase, table=True):
    """An immutable ledger line: the change to each balance and every balance after it.

    `amount_fen` is what the leader reads on a statement: + accrual, + settlement (became available), - reversal,
    - withdrawal (left available), + withdrawal_returned, + withdrawal_paid (paid out to the leader).
    """

    __tablename__ = "commission_entries"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('accrual', 'settlement', 'reversal', 'withdrawal', 'withdrawal_returned', 'withdrawal_paid')",
            name="kind_known",
        ),
        # Entries newest first, and a statement month read in order: both are range scans of these indexes.
        Index("ix_commission_entries_leader_id_id", "leader_id", "id"),
        Index("ix_commission_entries_leader_id_created_at_id", "leader_id", "created_at", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True))
    leader_id: str = Field(max_length=64)
    kind: CommissionEntryKind = enum_field(CommissionEntryKind, max_length=24)
    amount_fen: int = Field(sa_type=BigInteger)
    pending_delta_fen: int = Field(sa_type=BigInteger)
    available_delta_fen: int = Field(sa_type=BigInteger)
    in_withdrawal_delta_fen: int = Field(sa_type=BigInteger)
    withdrawn_delta_fen: int = Field(sa_type=BigInteger)
    pending_after_fen: int = Field(sa_type=BigInteger)
    available_after_fen: int = Field(sa_type=BigInteger)
    in_withdrawal_after_fen: int = Field(sa_type=BigInteger)
    withdrawn_after_fen: int = Field(sa_type=BigInteger)
    # The effect this entry records, unique: a second attempt at the same effect fails instead of doubling it.
    ref: str = Field(max_length=100, unique=True)
    accrual_id: int | None = None
    order_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    line_id: int | None = Field(default=None, sa_type=BigInteger)
    refund_id: int | None = Field(default=None, sa_type=BigInteger)
    withdrawal_id: int | None = None
    created_at: datetime = timestamp_field()
