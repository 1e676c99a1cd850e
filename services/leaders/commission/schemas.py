from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.common.exports import ExportFormat
from services.common.pagination import ListQuery
from services.common.text import Line
from services.common.types import AwareDatetime, BasisPoints, Fen, Id
from services.leaders.commission.models import (
    CommissionAccrualState,
    CommissionEntryKind,
    CommissionRuleMode,
    CommissionRuleScope,
)


class CommissionRuleState(StrEnum):
    """Whether a rule is in force now or starts later."""

    CURRENT = "current"
    SCHEDULED = "scheduled"


class RuleCreate(BaseModel):
    """The first rule that matches a line wins, in the order product → leader level → default.
    `percentage`: floor(line paid × rate_bp / 10000); `per_item`: amount_fen × quantity; `margin`:
    floor(max(0, line paid − unit cost price × quantity) × rate_bp / 10000), 0 for a line without a cost price."""

    model_config = ConfigDict(extra="forbid")

    scope: CommissionRuleScope
    level: Annotated[Line, StringConstraints(min_length=1, max_length=32)] | None = None
    product_id: Id | None = None
    mode: CommissionRuleMode
    rate_bp: BasisPoints | None = None
    amount_fen: Fen | None = None
    effective_from: AwareDatetime | None = Field(default=None, description="Default: now")

    @model_validator(mode="after")
    def _fields_match_scope_and_mode(self) -> RuleCreate:
        if (self.scope == CommissionRuleScope.LEVEL) != (self.level is not None):
            raise ValueError("level is required for scope 'level' and only allowed there")
        if (self.scope == CommissionRuleScope.PRODUCT) != (self.product_id is not None):
            raise ValueError("product_id is required for scope 'product' and only allowed there")
        rated = self.mode in (CommissionRuleMode.PERCENTAGE, CommissionRuleMode.MARGIN)
        if rated != (self.rate_bp is not None):
            raise ValueError("rate_bp is required for modes 'percentage' and 'margin' and only allowed there")
        if (self.mode == CommissionRuleMode.PER_ITEM) != (self.amount_fen is not None):
            raise ValueError("amount_fen is required for mode 'per_item' and only allowed there")
        return self


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scope: CommissionRuleScope
    level: str | None
    product_id: int | None
    mode: CommissionRuleMode
    rate_bp: int | None
    amount_fen: int | None
    effective_from: datetime
    created_by: str
    created_at: datetime


class RuleListItem(RuleRead):
    state: CommissionRuleState


class RuleList(BaseModel):
    items: list[RuleListItem]
    next_cursor: str | None = None


class Balance(BaseModel):
    leader_id: str
    pending_fen: int = Field(description="Accrued, waiting for pickup and the freeze period")
    available_fen: int = Field(description="Withdrawable; negative when reversals after settlement are owed")
    in_withdrawal_fen: int
    withdrawn_fen: int
    owed_fen: int = Field(description="What the leader owes back (0 unless available is negative)")
    accrued_fen: int
    reversed_fen: int


class EntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: CommissionEntryKind
    amount_fen: int
    pending_delta_fen: int
    available_delta_fen: int
    in_withdrawal_delta_fen: int
    withdrawn_delta_fen: int
    pending_after_fen: int
    available_after_fen: int
    in_withdrawal_after_fen: int
    withdrawn_after_fen: int
    ref: str
    order_id: int | None
    line_id: int | None
    refund_id: int | None
    withdrawal_id: int | None
    created_at: datetime


class SettlementResult(BaseModel):
    settled_accruals: int
    settled_fen: int
    cutoff: datetime


class ReconciliationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_ids: Annotated[list[Id], Field(max_length=500)]


class OrderCommissionCounts(BaseModel):
    accruals: dict[str, int]
    reversals: dict[str, int]


class ReconciliationResult(BaseModel):
    orders: dict[str, OrderCommissionCounts]


class StatementBalances(BaseModel):
    pending_fen: int
    available_fen: int
    in_withdrawal_fen: int
    withdrawn_fen: int


class StatementLine(BaseModel):
    entry_id: int
    at: datetime
    date: str = Field(description="Local date in the business time zone")
    kind: CommissionEntryKind
    order_id: int | None
    line_id: int | None
    refund_id: int | None
    withdrawal_id: int | None
    product_id: int | None
    quantity: int | None
    base_fen: int | None
    rule: str | None = Field(
        description="The rule the accrual used, e.g. 'product:percentage:1000bp'; 'none' when no rule matched; "
        "'excluded:own_order' for a leader's own purchase, which earns nothing"
    )
    amount_fen: int
    state: CommissionAccrualState | None = Field(description="The accrual's state now, for commission lines")


class StatementLines(BaseModel):
    items: list[StatementLine]
    next_cursor: str | None = None


class Statement(BaseModel):
    leader_id: str
    period: str
    timezone: str
    gmv_fen: int = Field(description="Paid for orders at the leader's pickup point whose payment falls in the month")
    refunds_fen: int = Field(description="Refunded in the month (by refund date), whenever the order was paid")
    net_sales_fen: int = Field(description="gmv_fen - refunds_fen: the month's sales (docs/metrics.md); may be < 0")
    accrued_fen: int
    reversed_fen: int
    settled_fen: int
    withdrawn_fen: int
    opening: StatementBalances
    closing: StatementBalances
    lines: StatementLines


class EntryFilters(ListQuery):
    kind: CommissionEntryKind | None = None


class StatementQuery(ListQuery):
    """`limit` and `cursor` page the lines of the JSON statement; the CSV holds all of them."""

    format: ExportFormat = Field(default=ExportFormat.JSON, description="`csv`: every line of the month")
