"""Payloads of the events that cross service boundaries (CONTRACT.md, "Events").

This module is the contract between producer and consumers: the orders service builds these models to fill
`Event.data`, the leaders and points services parse them back. Add fields, never repurpose one.
Amounts are integer fen, points are integers, ids of users (customers, leaders) are JWT `sub` strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

ORDER_PAID = "order.paid"
ORDER_PICKED_UP = "order.picked_up"
ORDER_CANCELLED = "order.cancelled"
ORDER_REFUNDED = "order.refunded"
LEADER_MEMBER_JOINED = "leader.member_joined"
LEADER_MEMBER_LEFT = "leader.member_left"
LEADER_STATUS_CHANGED = "leader.status_changed"
REFERRAL_BOUND = "referral.bound"
USER_ERASED = "user.erased"
STAFF_UPDATED = "staff.updated"
ORDER_PLACED = "order.placed"
FLASH_SALE_CREATED = "flash_sale.created"
LEADER_UPDATED = "leader.updated"
POINTS_SIGNED_IN = "points.signed_in"
# After-sale, shortages at receipt and tickets (from orders; published for analytics).
AFTERSALE_REQUESTED = "aftersale.requested"
AFTERSALE_DECIDED = "aftersale.decided"
AFTERSALE_REFUNDED = "aftersale.refunded"
DELIVERY_SHORTAGE_REPORTED = "delivery.shortage_reported"
TICKET_OPENED = "ticket.opened"
TICKET_UPDATED = "ticket.updated"
# A staff action, recorded by the service where it happened; accounts keeps the audit trail.
AUDIT_RECORDED = "audit.recorded"

#: Who may publish which event types, by type prefix: a receiver applies an event only when it comes from the
#: service that owns its type (the token's service identity on the HTTP bus, the envelope's `source` always).
EVENT_OWNERS: dict[str, str] = {
    "order.": "orders",
    "flash_sale.": "orders",
    "aftersale.": "orders",
    "delivery.": "orders",
    "ticket.": "orders",
    "leader.": "leaders",
    "referral.": "points",
    "points.": "points",
    "user.": "accounts",
    "staff.": "accounts",
}


#: Types every service publishes about itself: the owner of such an event is the service that sent it, and the
#: payload names that service too (`AuditRecorded.service`), so no service can write another's audit entries.
SELF_OWNED_TYPES: frozenset[str] = frozenset({AUDIT_RECORDED})


def owner_of(event_type: str, source: str | None = None) -> str | None:
    """The service that owns `event_type`, or None for a type nobody owns (such an event is never applied).

    A self-owned type (`SELF_OWNED_TYPES`) belongs to whichever service `source` names."""
    if event_type in SELF_OWNED_TYPES:
        return source
    prefix = event_type.split(".", 1)[0] + "."
    return EVENT_OWNERS.get(prefix)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class OrderLinePaid(_Payload):
    line_id: int
    product_id: int
    quantity: int
    unit_price_fen: int
    amount_fen: int  # unit price x quantity, before points
    points_discount_fen: int  # the share of the order's points discount carried by this line
    paid_fen: int  # what the customer actually paid for the line: amount - points discount
    points_used: int = 0  # the share of the order's points spent on this line
    product_name: str | None = None  # the name when ordered (analytics' top products); None from older producers
    sku_id: int | None = None  # the SKU bought, for products with specifications
    cost_fen: int | None = None  # the cost price of one unit when ordered (None: not set); margin commission's base


class OrderPaid(_Payload):
    order_id: int
    customer_id: str
    leader_id: str
    lines: list[OrderLinePaid]
    goods_fen: int
    points_used: int
    points_discount_fen: int
    paid_fen: int
    paid_at: datetime
    flash_sale_id: int | None = None


class OrderLineState(_Payload):
    line_id: int
    product_id: int
    quantity: int
    refunded_quantity: int
    paid_fen: int
    refunded_fen: int


class OrderPickedUp(_Payload):
    order_id: int
    customer_id: str
    leader_id: str
    picked_up_at: datetime
    lines: list[OrderLineState]
    paid_fen: int  # paid for the whole order
    refunded_fen: int  # refunded before pickup; purchase points are earned on paid - refunded


class OrderCancelled(_Payload):
    order_id: int
    customer_id: str
    leader_id: str
    points_used: int
    cancelled_at: datetime
    reason: str  # "customer", "payment_timeout", "ops"


class OrderLineRefund(_Payload):
    line_id: int
    product_id: int
    quantity: int  # units refunded now
    line_quantity: int  # units bought on the line
    refund_fen: int  # money returned for those units
    points_returned: int  # spent points given back for those units


class OrderRefunded(_Payload):
    order_id: int
    refund_id: int
    customer_id: str
    leader_id: str
    lines: list[OrderLineRefund]
    refund_fen: int
    points_returned: int
    picked_up: bool  # refunded after pickup (purchase points were credited and must be reversed)
    refunded_at: datetime


class MemberChanged(_Payload):
    leader_id: str
    customer_id: str
    at: datetime


class LeaderStatusChanged(_Payload):
    leader_id: str
    status: str  # "active" | "suspended"
    at: datetime


class ReferralBound(_Payload):
    inviter_id: str
    invitee_id: str
    at: datetime


class UserErased(_Payload):
    """The person asked to be forgotten: anonymise them, keep money records (amounts, dates, ids) intact."""

    user_id: str
    at: datetime


class StaffUpdated(_Payload):
    """A staff account was created or changed (a manager's name and contact are shown to their leaders)."""

    staff_id: str
    display_name: str
    contact_phone: str | None
    roles: list[str]
    active: bool
    at: datetime


class OrderLinePlaced(_Payload):
    line_id: int
    product_id: int
    product_name: str | None = None
    quantity: int
    unit_price_fen: int
    amount_fen: int


class OrderPlaced(_Payload):
    """An order was created and waits for payment (a flash-sale purchase is one): purchase-to-paid conversion."""

    order_id: int
    customer_id: str
    leader_id: str
    lines: list[OrderLinePlaced]
    goods_fen: int
    payable_fen: int
    placed_at: datetime
    flash_sale_id: int | None = None


class FlashSaleCreated(_Payload):
    flash_sale_id: int
    product_id: int
    product_name: str | None = None
    price_fen: int
    stock: int
    per_user_limit: int
    starts_at: datetime
    ends_at: datetime
    created_at: datetime


class LeaderUpdated(_Payload):
    """A leader's state after approval or any change of status, level or manager (the whole state, not a diff)."""

    leader_id: str
    status: str
    level: str | None = None
    manager_id: str | None = None
    name: str | None = None
    at: datetime


class SignedIn(_Payload):
    """A daily sign-in (one per user and local date)."""

    user_id: str
    at: datetime
    streak: int | None = None


class AfterSaleLineAsked(_Payload):
    line_id: int
    product_id: int
    quantity: int
    amount_fen: int


class AfterSaleRequested(_Payload):
    after_sale_id: int
    order_id: int
    customer_id: str
    leader_id: str
    reason: str  # "missing", "damaged", "quality", "wrong_item", "other"
    lines: list[AfterSaleLineAsked]
    amount_fen: int
    requested_at: datetime


class AfterSaleDecided(_Payload):
    after_sale_id: int
    order_id: int
    customer_id: str
    leader_id: str
    decision: str  # "approved", "rejected", "escalated", "appealed"
    from_status: str
    to_status: str
    actor: str  # a user id, or "system" for the automatic approval
    actor_role: str  # "system", "customer", "leader", "staff"
    reason: str | None
    amount_fen: int
    decided_at: datetime


class AfterSaleRefunded(_Payload):
    """The money of an approved request went back through the payment provider (or none was due)."""

    after_sale_id: int
    order_id: int
    customer_id: str
    leader_id: str
    refund_id: int
    refund_fen: int
    refunded_at: datetime


class ShortageItem(_Payload):
    product_id: int
    kind: str  # "missing" | "damaged"
    quantity: int  # units reported
    refunded_quantity: int  # units refunded automatically (the rest belonged to open after-sale requests)
    refund_fen: int


class DeliveryShortageReported(_Payload):
    batch_id: int
    leader_id: str
    cutoff_date: str  # ISO date of the batch
    reported_by: str
    items: list[ShortageItem]
    reported_at: datetime


class TicketOpened(_Payload):
    ticket_id: int
    kind: str  # "complaint" | "suggestion"
    opened_by: str
    opener_role: str  # "customer" | "leader"
    order_id: int | None
    leader_id: str | None
    opened_at: datetime


class TicketUpdated(_Payload):
    ticket_id: int
    change: str  # "replied", "answered" (the first staff answer), "status", "assigned"
    status: str
    actor: str
    actor_role: str  # "customer", "leader", "staff"
    assignee_id: str | None
    first_answered_at: datetime | None
    first_answer_seconds: int | None
    at: datetime


class AuditRecorded(_Payload):
    """One staff action (or a run started from the CLI), with the values before and after it.

    Recorded in the same transaction as the action (`services.common.audit.record`); accounts keeps it for good."""

    service: str  # where the action happened; must be the service that sent the event
    actor: str  # the staff member's user id, or `cli:<os user>` for a command run by hand
    actor_roles: list[str]  # the duties the actor held for the action (empty when unknown, e.g. the CLI)
    action: str  # `<resource>.<verb>`, e.g. `product.updated`, `withdrawal.approved`
    target_type: str  # e.g. `product`, `leader`, `withdrawal`
    target_id: str
    before: dict[str, Any] | None  # the values the action changed, as they were (None: the target did not exist)
    after: dict[str, Any] | None  # the same values after it (None: a run with no single result)
    at: datetime
