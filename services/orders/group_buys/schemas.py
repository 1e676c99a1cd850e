from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.common.pagination import ListQuery
from services.common.text import Line
from services.common.types import AwareDatetime, Day, Fen, Id, PositiveQuantity
from services.orders.products.schemas import Region

HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]  # ASCII digits only
Title = Annotated[Line, StringConstraints(min_length=1, max_length=100)]
LeaderIdQuery = Annotated[Line, StringConstraints(min_length=1, max_length=64)]


class GroupBuyState(StrEnum):
    """scheduled → open (orders taken) → ended (no more orders) → closed (community minimums settled)."""

    SCHEDULED = "scheduled"
    OPEN = "open"
    ENDED = "ended"
    CLOSED = "closed"


class GroupBuyItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id
    sku_id: Id | None = Field(default=None, description="One SKU; without it every SKU of the product, at this price")
    price_fen: Fen = Field(description="The group-buy price of one unit")
    per_customer_limit: PositiveQuantity | None = Field(
        default=None, description="Units of the product one customer may buy in this group-buy (限购)"
    )
    min_per_community: PositiveQuantity | None = Field(
        default=None,
        description="Units of the product one community must order (成团); below it at the close, that community's "
        "orders of the product are cancelled and refunded",
    )


class GroupBuyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    pickup_date: Day
    pickup_starts: HHMM = Field(description="Start of the pickup window, local time")
    pickup_ends: HHMM = Field(description="End of the pickup window, local time")
    regions: list[Region] = Field(min_length=1, max_length=100, description="Cities or city/districts it serves")
    items: list[GroupBuyItemIn] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> GroupBuyCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.pickup_ends <= self.pickup_starts:
            raise ValueError("pickup_ends must be after pickup_starts")
        keys = [(i.product_id, i.sku_id) for i in self.items]
        if len(set(keys)) != len(keys):
            raise ValueError("each product (or SKU) appears once")
        limits: dict[int, int | None] = {}
        for item in self.items:
            if limits.setdefault(item.product_id, item.per_customer_limit) != item.per_customer_limit:
                raise ValueError("the items of one product share its per_customer_limit")
        return self


class GroupBuyItemRead(BaseModel):
    id: int
    product_id: int
    product_name: str
    sku_id: int | None
    sku_name: str | None
    price_fen: int
    per_customer_limit: int | None
    min_per_community: int | None


class GroupBuyRead(BaseModel):
    id: int
    title: str
    state: GroupBuyState
    starts_at: datetime
    ends_at: datetime
    pickup_date: date
    pickup_starts: str
    pickup_ends: str
    regions: list[str]
    items: list[GroupBuyItemRead]
    created_by: str
    created_at: datetime
    closed_at: datetime | None


class GroupBuyFilters(ListQuery):
    """Customers and leaders name their community's leader (`leader_id`) or a region and see the group-buys serving
    it that have not ended; catalogue staff see every group-buy."""

    leader_id: LeaderIdQuery | None = Field(default=None, description="The group-buys of this leader's region")
    region: Region | None = None
    pickup_date: Day | None = None
    state: GroupBuyState | None = Field(default=None, description="Staff: only group-buys in this state")


class GroupBuyReadQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leader_id: LeaderIdQuery | None = Field(
        default=None, description="Customers: their community's leader, whose region the group-buy must serve"
    )


class GroupBuyOutcomeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: int
    leader_id: str
    quantity: int
    minimum: int
    reached: bool
    orders_affected: int
    decided_at: datetime
