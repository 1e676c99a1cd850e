from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.pagination import DatedListQuery
from services.common.text import Line, Text, WebUrl
from services.common.types import Id, PositiveQuantity, UserId
from services.orders.aftersales.models import AfterSaleAction, AfterSaleActor, AfterSaleReason, AfterSaleStatus

#: Why someone decided as they did.
Reason = Annotated[Line, StringConstraints(min_length=1, max_length=200)]
#: A customer's account of what went wrong (may be empty, may run over several lines).
Description = Annotated[Text, StringConstraints(max_length=1000)]


class AfterSaleLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_id: Id
    quantity: PositiveQuantity


class AfterSaleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[AfterSaleLineIn] = Field(min_length=1, max_length=200)
    reason: AfterSaleReason
    description: Description | None = None
    images: list[WebUrl] = Field(default_factory=list, max_length=9)


class DecisionNote(BaseModel):
    """Why (optional): approving, escalating."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class DecisionReason(BaseModel):
    """Why (required): rejecting, appealing."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class AfterSaleQuery(DatedListQuery):
    status: AfterSaleStatus | None = None
    leader_id: UserId | None = Field(
        default=None, description="A leader passes their own id for the requests of their pickup point"
    )


class AfterSaleLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    line_id: int
    product_id: int
    product_name: str
    quantity: int
    amount_fen: int


class AfterSaleDecisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: AfterSaleAction
    from_status: AfterSaleStatus | None
    to_status: AfterSaleStatus
    actor: str
    actor_role: AfterSaleActor
    reason: str | None
    created_at: datetime


class AfterSaleRead(BaseModel):
    id: int
    order_id: int
    customer_id: str
    leader_id: str
    status: AfterSaleStatus
    reason: AfterSaleReason
    description: str | None
    images: list[str]
    lines: list[AfterSaleLineRead]
    amount_fen: int = Field(description="What the units return, as computed when they were asked for")
    refund_id: int | None = Field(description="The refund issued on approval")
    refunded_fen: int | None = Field(description="What that refund gave back")
    decided_by: str | None
    decision_reason: str | None
    can_appeal: bool = Field(description="Rejected and not appealed yet")
    history: list[AfterSaleDecisionRead]
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    appealed_at: datetime | None
    approved_at: datetime | None
    refunded_at: datetime | None
