"""Payloads of the events that cross service boundaries (CONTRACT.md, "Events").

This module is the contract between producer and consumers: the orders service builds these models to fill
`Event.data`, the leaders and points services parse them back. Add fields, never repurpose one.
Amounts are integer fen, points are integers, ids of users (customers, leaders) are JWT `sub` strings.
"""

from __future__ import annotations

from datetime import datetime

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

#: Who may publish which event types, by type prefix: a receiver applies an event only when it comes from the
#: service that owns its type (the token's service identity on the HTTP bus, the envelope's `source` always).
EVENT_OWNERS: dict[str, str] = {
    "order.": "orders",
    "leader.": "leaders",
    "referral.": "points",
    "points.": "points",
    "user.": "accounts",
    "staff.": "accounts",
}


def owner_of(event_type: str) -> str | None:
    """The service that owns `event_type`, or None for a type nobody owns (such an event is never applied)."""
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
