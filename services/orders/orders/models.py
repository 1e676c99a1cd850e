"""Orders, their lines (price and discount snapshots), their state log and their refunds."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index
from sqlmodel import Field

from services.common.db import BIGINT_ID, timestamp_field
from services.common.sql import enum_field
from services.orders.db import OrdersBase


class OrderStatus(StrEnum):
    """pending_payment → paid → ready_for_pickup → picked_up; only an unpaid order can become cancelled."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    READY_FOR_PICKUP = "ready_for_pickup"
    PICKED_UP = "picked_up"
    CANCELLED = "cancelled"


class OrderRefundStatus(StrEnum):
    """How much of an order has been refunded: none → partial → full."""

    NONE = "none"
    PARTIAL = "partial"
    FULL = "full"


class OrderCancelReason(StrEnum):
    CUSTOMER = "customer"
    OPS = "ops"
    PAYMENT_TIMEOUT = "payment_timeout"


class RefundProviderStatus(StrEnum):
    """Whether a refund's money went back through the payment provider: pending → sent, or not_needed (0 fen);
    failed when the provider refused it after every attempt (parked for staff, who may retry)."""

    PENDING = "pending"
    SENT = "sent"
    NOT_NEEDED = "not_needed"
    FAILED = "failed"


class Order(OrdersBase, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("goods_fen >= 0", name="goods_not_negative"),
        CheckConstraint("payable_fen >= 0", name="payable_not_negative"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= payable_fen", name="refund_within_paid"),
        Index("ix_orders_status_expires_at", "status", "expires_at"),
        Index("ix_orders_customer_id_id", "customer_id", "id"),
        Index("ix_orders_leader_id_status_id", "leader_id", "status", "id"),
        Index("ix_orders_pickup_date_status", "pickup_date", "status"),
        Index("ix_orders_group_buy_id_leader_id", "group_buy_id", "leader_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(max_length=64)
    leader_id: str = Field(max_length=64)
    status: OrderStatus = enum_field(OrderStatus, max_length=20)
    goods_fen: int = Field(sa_type=BigInteger)
    points_used: int = Field(default=0, sa_type=BigInteger)
    points_discount_fen: int = Field(default=0, sa_type=BigInteger)
    payable_fen: int = Field(sa_type=BigInteger)
    refunded_fen: int = Field(default=0, sa_type=BigInteger)
    refund_status: OrderRefundStatus = enum_field(OrderRefundStatus, max_length=10, default=OrderRefundStatus.NONE)
    flash_sale_id: int | None = Field(default=None, index=True)
    #: The Redis reservation this flash order consumed; releasing it is idempotent by this token.
    flash_reservation: str | None = Field(default=None, max_length=64, unique=True)
    pickup_point: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    pickup_code: str | None = Field(default=None, max_length=6)
    pickup_failed_attempts: int = Field(default=0)
    pickup_locked_until: datetime | None = timestamp_field(nullable=True)
    delivery_batch_id: int | None = Field(default=None, index=True)
    #: The local date the goods are picked up: the group-buy's, or the day after the next cut-off
    #: (`services.orders.orders.pickup`). Delivery batches are per leader and pickup date.
    pickup_date: date
    group_buy_id: int | None = Field(default=None, sa_type=BIGINT_ID)
    expires_at: datetime = timestamp_field()
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
    paid_at: datetime | None = timestamp_field(nullable=True)
    ready_at: datetime | None = timestamp_field(nullable=True)
    picked_up_at: datetime | None = timestamp_field(nullable=True)
    cancelled_at: datetime | None = timestamp_field(nullable=True)
    cancel_reason: OrderCancelReason | None = enum_field(OrderCancelReason, max_length=20, default=None)


class OrderLine(OrdersBase, table=True):
    """One product on an order, with what was actually paid for it after its share of the points discount."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refund_within_bought"),
        CheckConstraint("paid_fen >= 0", name="paid_not_negative"),
        CheckConstraint(
            "reserved_quantity >= 0 AND refunded_quantity + reserved_quantity <= quantity",
            name="reserved_within_bought",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    product_id: int
    product_name: str = Field(max_length=100)
    #: The SKU bought, for products with specifications; its name as it was.
    sku_id: int | None = Field(default=None, sa_type=BIGINT_ID)
    sku_name: str | None = Field(default=None, max_length=50)
    #: The cost price of one unit when ordered (None: not set): the base of margin commission.
    cost_fen: int | None = Field(default=None, sa_type=BigInteger)
    quantity: int
    unit_price_fen: int = Field(sa_type=BigInteger)
    amount_fen: int = Field(sa_type=BigInteger)
    points_discount_fen: int = Field(default=0, sa_type=BigInteger)
    points_used: int = Field(default=0, sa_type=BigInteger)
    paid_fen: int = Field(sa_type=BigInteger)
    refunded_quantity: int = Field(default=0)
    refunded_fen: int = Field(default=0, sa_type=BigInteger)
    refunded_points: int = Field(default=0, sa_type=BigInteger)
    #: Units asked for by after-sale requests still open: never refunded twice, never asked for twice.
    reserved_quantity: int = Field(default=0)


class OrderLog(OrdersBase, table=True):
    """Who moved an order to which state, when. Written in the transaction of the change; never edited."""

    __tablename__ = "order_log"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    from_status: OrderStatus | None = enum_field(OrderStatus, max_length=20, default=None)
    to_status: OrderStatus = enum_field(OrderStatus, max_length=20)
    actor: str = Field(max_length=64)
    note: str | None = Field(default=None, max_length=200)
    created_at: datetime = timestamp_field()


class Refund(OrdersBase, table=True):
    """Money and points given back for some units of some lines. The provider refund is sent by a job."""

    __tablename__ = "refunds"
    __table_args__ = (Index("ix_refunds_provider_status_id", "provider_status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    requested_by: str = Field(max_length=64)
    reason: str = Field(max_length=200)
    refund_fen: int = Field(sa_type=BigInteger)
    points_returned: int = Field(sa_type=BigInteger)
    after_pickup: bool
    # The units went back on sale: refunded before the order joined a delivery batch, so they never left the
    # warehouse. Once batched they are on their way to the pickup point, and what comes back is not resold.
    restocked: bool = False
    provider_status: RefundProviderStatus = enum_field(
        RefundProviderStatus, max_length=16, default=RefundProviderStatus.PENDING
    )
    provider_refund_id: str | None = Field(default=None, max_length=64)
    #: What the refund settles when it is not a direct one (`after_sale:<id>`, `shortage:<batch>:<order>`): the
    #: database refunds each of these once.
    source_key: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = timestamp_field()
    sent_at: datetime | None = timestamp_field(nullable=True)


class RefundLine(OrdersBase, table=True):
    __tablename__ = "refund_lines"

    id: int | None = Field(default=None, primary_key=True)
    refund_id: int = Field(foreign_key="refunds.id", index=True)
    line_id: int = Field(foreign_key="order_lines.id")
    quantity: int
    refund_fen: int = Field(sa_type=BigInteger)
    points_returned: int = Field(sa_type=BigInteger)


class AbandonedHold(OrdersBase, table=True):
    """A points hold made for an order that never committed, whose release could not be sent at the time
    (the points service was down or answered too late). A job keeps sending the release until it lands, so a
    customer retrying the purchase gets their points back in seconds, not when the hold expires."""

    __tablename__ = "abandoned_holds"

    order_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = timestamp_field()


class CustomerUnpaid(OrdersBase, table=True):
    """What one customer holds unpaid: orders waiting for payment and their units (regular and group-buy orders;
    flash-sale orders are bounded by each sale's per-buyer limit instead). Taken with a guarded upsert in the
    transaction that inserts the order, given back by the guarded update that moves the order out of
    `pending_payment` (paid, cancelled or expired), so one account cannot hold a product's stock for the payment
    window. The row also serialises one customer's order placements on PostgreSQL (its row lock)."""

    __tablename__ = "customer_unpaid"
    __table_args__ = (
        CheckConstraint("orders >= 0", name="orders_not_negative"),
        CheckConstraint("units >= 0", name="units_not_negative"),
    )

    customer_id: str = Field(primary_key=True, max_length=64)
    orders: int = Field(default=0)
    units: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = timestamp_field()
