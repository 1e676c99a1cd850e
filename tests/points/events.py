"""Order events as the orders service sends them, and delivery through the real inbox and handlers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from services.common.events.consumer import apply_event
from services.common.events.contract import (
    ORDER_CANCELLED,
    ORDER_PAID,
    ORDER_PICKED_UP,
    ORDER_REFUNDED,
    OrderCancelled,
    OrderLinePaid,
    OrderLineRefund,
    OrderLineState,
    OrderPaid,
    OrderPickedUp,
    OrderRefunded,
)
from services.common.events.store import Event
from services.points.db import inbox
from services.points.subscriptions import HANDLERS


def event(type_: str, data: Any) -> Event:
    return Event(
        id=str(uuid.uuid4()),
        type=type_,
        occurred_at=datetime.now(UTC),
        source="orders",
        aggregate=f"order:{data.order_id}",
        data=data.model_dump(mode="json"),
    )


def paid(order_id: int, points_used: int, customer_id: str = "u1") -> Event:
    line = OrderLinePaid(
        line_id=1,
        product_id=1,
        quantity=1,
        unit_price_fen=10_000,
        amount_fen=10_000,
        points_discount_fen=points_used,
        paid_fen=10_000 - points_used,
        points_used=points_used,
    )
    return event(
        ORDER_PAID,
        OrderPaid(
            order_id=order_id,
            customer_id=customer_id,
            leader_id="l1",
            lines=[line],
            goods_fen=10_000,
            points_used=points_used,
            points_discount_fen=points_used,
            paid_fen=10_000 - points_used,
            paid_at=datetime.now(UTC),
        ),
    )


def cancelled(order_id: int, points_used: int, customer_id: str = "u1") -> Event:
    return event(
        ORDER_CANCELLED,
        OrderCancelled(
            order_id=order_id,
            customer_id=customer_id,
            leader_id="l1",
            points_used=points_used,
            cancelled_at=datetime.now(UTC),
            reason="customer",
        ),
    )


def picked_up(
    order_id: int,
    customer_id: str = "u1",
    paid_fen: int = 10_000,
    refunded_fen: int = 0,
    at: datetime | None = None,
) -> Event:
    line = OrderLineState(
        line_id=1, product_id=1, quantity=2, refunded_quantity=0, paid_fen=paid_fen, refunded_fen=refunded_fen
    )
    return event(
        ORDER_PICKED_UP,
        OrderPickedUp(
            order_id=order_id,
            customer_id=customer_id,
            leader_id="l1",
            picked_up_at=at or datetime.now(UTC),
            lines=[line],
            paid_fen=paid_fen,
            refunded_fen=refunded_fen,
        ),
    )


def refunded(
    order_id: int,
    refund_id: int,
    points_returned: int,
    refund_fen: int,
    picked_up: bool = False,
    customer_id: str = "u1",
) -> Event:
    line = OrderLineRefund(
        line_id=1, product_id=1, quantity=1, line_quantity=2, refund_fen=refund_fen, points_returned=points_returned
    )
    return event(
        ORDER_REFUNDED,
        OrderRefunded(
            order_id=order_id,
            refund_id=refund_id,
            customer_id=customer_id,
            leader_id="l1",
            lines=[line],
            refund_fen=refund_fen,
            points_returned=points_returned,
            picked_up=picked_up,
            refunded_at=datetime.now(UTC),
        ),
    )


async def deliver(app: FastAPI, evt: Event) -> bool:
    return await apply_event(app.state.db, inbox, HANDLERS, evt)
