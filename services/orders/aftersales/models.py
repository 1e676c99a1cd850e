"""After-sale requests: a customer asks for units of some lines back, the units are reserved on the order lines while
the request is open, and someone (the policy, the leader, support or finance) decides before any money moves."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field

from services.common.db import id_field, ref_field, timestamp_field
from services.common.sql import enum_field
from services.orders.db import OrdersBase


class AfterSaleStatus(StrEnum):
    """pending → approved → refunded; pending → escalated (the leader or support passed it on) → approved | rejected;
    rejected → appealed (once) → approved | rejected. Approval issues the refund; `refunded` once the payment provider
    has paid it back (at once when no money was paid)."""

    PENDING = "pending"
    ESCALATED = "escalated"
    APPEALED = "appealed"
    APPROVED = "approved"
    REJECTED = "rejected"
    REFUNDED = "refunded"


#: Waiting for someone to decide: the customer's units stay reserved.
OPEN_STATUSES = (AfterSaleStatus.PENDING, AfterSaleStatus.ESCALATED, AfterSaleStatus.APPEALED)


class AfterSaleReason(StrEnum):
    MISSING = "missing"
    DAMAGED = "damaged"
    QUALITY = "quality"
    WRONG_ITEM = "wrong_item"
    OTHER = "other"


class AfterSaleAction(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    APPEALED = "appealed"
    REFUNDED = "refunded"


class AfterSaleActor(StrEnum):
    """In which capacity someone acted on a request."""

    SYSTEM = "system"  # the automatic approval policy, the refund sender
    CUSTOMER = "customer"
    LEADER = "leader"
    STAFF = "staff"


class AfterSaleRequest(OrdersBase, table=True):
    __tablename__ = "after_sale_requests"
    __table_args__ = (
        CheckConstraint("amount_fen >= 0", name="amount_not_negative"),
        Index("ix_after_sale_requests_customer_id_id", "customer_id", "id"),
        Index("ix_after_sale_requests_leader_id_id", "leader_id", "id"),
        Index("ix_after_sale_requests_status_id", "status", "id"),
        Index("ix_after_sale_requests_customer_id_approved_at", "customer_id", "approved_at"),
    )

    id: int | None = id_field()
    order_id: int = ref_field("orders.id", index=True)
    customer_id: str = Field(max_length=64)
    #: The order's pickup point, copied so a leader's list needs no join.
    leader_id: str = Field(max_length=64)
    status: AfterSaleStatus = enum_field(AfterSaleStatus, max_length=16)
    reason: AfterSaleReason = enum_field(AfterSaleReason, max_length=16)
    description: str | None = Field(default=None, max_length=1000)
    images: list[str] = Field(default_factory=list, sa_type=JSON)
    #: What the units would return when asked for (the policy limits compare this); `refunded_fen` is what the refund
    #: gave back, which may differ by a rounding fen when other units of the line were refunded in between.
    amount_fen: int = Field(sa_type=BigInteger)
    refund_id: int | None = ref_field("refunds.id", nullable=True)
    refunded_fen: int | None = Field(default=None, sa_type=BigInteger)
    decided_by: str | None = Field(default=None, max_length=64)
    decision_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
    decided_at: datetime | None = timestamp_field(nullable=True)
    appealed_at: datetime | None = timestamp_field(nullable=True)
    approved_at: datetime | None = timestamp_field(nullable=True)
    refunded_at: datetime | None = timestamp_field(nullable=True)


class AfterSaleLine(OrdersBase, table=True):
    """Units of one order line a request asks for."""

    __tablename__ = "after_sale_lines"
    __table_args__ = (
        UniqueConstraint("request_id", "line_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: int | None = id_field()
    request_id: int = ref_field("after_sale_requests.id", index=True)
    line_id: int = ref_field("order_lines.id")
    product_id: int
    product_name: str = Field(max_length=100)
    quantity: int
    amount_fen: int = Field(sa_type=BigInteger)


class AfterSaleDecision(OrdersBase, table=True):
    """Who did what to a request, when, and why. Written in the transaction of the change; never edited."""

    __tablename__ = "after_sale_decisions"

    id: int | None = id_field()
    request_id: int = ref_field("after_sale_requests.id", index=True)
    action: AfterSaleAction = enum_field(AfterSaleAction, max_length=16)
    from_status: AfterSaleStatus | None = enum_field(AfterSaleStatus, max_length=16, default=None)
    to_status: AfterSaleStatus = enum_field(AfterSaleStatus, max_length=16)
    actor: str = Field(max_length=64)
    actor_role: AfterSaleActor = enum_field(AfterSaleActor, max_length=16)
    reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = timestamp_field()
