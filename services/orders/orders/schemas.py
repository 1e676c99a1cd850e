from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.pagination import ListQuery
from services.common.text import Line, digits
from services.common.types import AwareDatetime, Day, Id, Points, PositiveQuantity, UserId
from services.orders.orders.models import OrderCancelReason, OrderRefundStatus, OrderStatus, RefundProviderStatus

PickupCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=digits(6))]
Reason = Annotated[Line, StringConstraints(min_length=1, max_length=200)]


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id
    sku_id: Id | None = Field(default=None, description="Required when the product has several SKUs")
    quantity: PositiveQuantity


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leader_id: UserId
    lines: list[OrderLineIn] = Field(min_length=1, max_length=200)
    points: Points = 0
    group_buy_id: Id | None = Field(
        default=None, description="Order in this group-buy: its prices, limits and pickup date apply"
    )


class OrderLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    product_id: int
    product_name: str
    sku_id: int | None = None
    sku_name: str | None = None
    quantity: int
    unit_price_fen: int
    amount_fen: int
    points_discount_fen: int
    points_used: int
    paid_fen: int
    refunded_quantity: int
    refunded_fen: int
    reserved_quantity: int = Field(description="Units asked for in after-sale requests still open")


class OrderRead(BaseModel):
    id: int
    status: OrderStatus
    customer_id: str
    leader_id: str
    lines: list[OrderLineRead]
    goods_fen: int
    points_used: int
    points_discount_fen: int
    payable_fen: int
    refunded_fen: int
    refund_status: OrderRefundStatus
    flash_sale_id: int | None
    pickup_point: dict[str, Any] | None
    pickup_code: str | None = Field(description="Shown to the order's owner once the order is paid")
    delivery_batch_id: int | None
    pickup_date: date | None = Field(default=None, description="The local date the goods are picked up")
    group_buy_id: int | None = None
    expires_at: datetime
    created_at: datetime
    paid_at: datetime | None
    ready_at: datetime | None
    picked_up_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: OrderCancelReason | None


class PickupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pickup_code: PickupCode


class OrderLogEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: OrderStatus | None
    to_status: OrderStatus
    actor: str
    note: str | None
    created_at: datetime


class RefundLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_id: Id
    quantity: PositiveQuantity


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[RefundLineIn] = Field(min_length=1, max_length=200)
    reason: Reason


class RefundLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    line_id: int
    quantity: int
    refund_fen: int
    points_returned: int


class RefundRead(BaseModel):
    id: int
    order_id: int
    lines: list[RefundLineRead]
    refund_fen: int
    points_returned: int
    reason: str
    requested_by: str
    after_pickup: bool
    restocked: bool = Field(
        description="The units went back on sale: refunded while the order was paid and not yet in a delivery batch"
    )
    provider_status: RefundProviderStatus
    created_at: datetime


class OrderFilters(ListQuery):
    status: OrderStatus | None = None
    leader_id: Annotated[Line, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="Orders at this pickup point: the leader themselves, or staff"
    )
    customer_id: Annotated[Line, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="Orders of this customer: staff who read orders only"
    )
    pickup_date: Day | None = Field(default=None, description="Orders picked up on this local date")
    created_from: AwareDatetime | None = Field(default=None, description="Created at or after this instant")
    created_to: AwareDatetime | None = Field(default=None, description="Created before this instant")
