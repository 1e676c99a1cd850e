"""Helpers for the leaders tests: make a leader through the real endpoints, build order events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from services.common.clock import utcnow
from services.common.events.contract import OrderLinePaid, OrderLineRefund, OrderPaid, OrderPickedUp, OrderRefunded
from services.common.testing import bearer, service_bearer

OPS = bearer("ops1", ["ops"])
SERVICE = service_bearer("orders")

APPLICATION: dict[str, Any] = {
    "name": "Wang Fang",
    "phone": "13800138000",
    "pickup_point": {"name": "Wang's shop", "address": "1 Garden Road", "community": "Sunny Garden"},
}


def leader_headers(leader_id: str) -> dict[str, str]:
    return bearer(leader_id, ["leader", "customer"])


async def make_leader(client: httpx.AsyncClient, leader_id: str, **approve: Any) -> dict[str, Any]:
    applied = await client.post(
        "/api/v1/leader-applications", json=APPLICATION, headers=bearer(leader_id, ["customer"])
    )
    assert applied.status_code == 201, applied.text
    approved = await client.post(
        f"/api/v1/leader-applications/{applied.json()['id']}/approve", json=approve or None, headers=OPS
    )
    assert approved.status_code == 200, approved.text
    result: dict[str, Any] = approved.json()
    return result


class Orders:
    """Builds the order events the orders service would publish, with fresh ids."""

    def __init__(self) -> None:
        self._next = 1000

    def _id(self) -> int:
        self._next += 1
        return self._next

    def paid(
        self,
        leader_id: str,
        lines: list[tuple[int, int, int]],
        *,
        customer_id: str = "c1",
        paid_at: datetime | None = None,
    ) -> OrderPaid:
        """`lines` are (product_id, quantity, paid_fen)."""
        order_id = self._id()
        paid_lines = [
            OrderLinePaid(
                line_id=self._id(),
                product_id=product_id,
                quantity=quantity,
                unit_price_fen=paid // quantity if quantity else 0,
                amount_fen=paid,
                points_discount_fen=0,
                paid_fen=paid,
            )
            for product_id, quantity, paid in lines
        ]
        total = sum(line.paid_fen for line in paid_lines)
        return OrderPaid(
            order_id=order_id,
            customer_id=customer_id,
            leader_id=leader_id,
            lines=paid_lines,
            goods_fen=total,
            points_used=0,
            points_discount_fen=0,
            paid_fen=total,
            paid_at=paid_at or utcnow(),
        )

    @staticmethod
    def picked_up(order: OrderPaid, *, days_ago: float = 0) -> OrderPickedUp:
        return OrderPickedUp(
            order_id=order.order_id,
            customer_id=order.customer_id,
            leader_id=order.leader_id,
            picked_up_at=utcnow() - timedelta(days=days_ago),
            lines=[],
            paid_fen=order.paid_fen,
            refunded_fen=0,
        )

    def refunded(self, order: OrderPaid, refunds: list[tuple[int, int]], *, picked_up: bool = False) -> OrderRefunded:
        """`refunds` are (line index, quantity)."""
        lines = []
        for index, quantity in refunds:
            line = order.lines[index]
            lines.append(
                OrderLineRefund(
                    line_id=line.line_id,
                    product_id=line.product_id,
                    quantity=quantity,
                    line_quantity=line.quantity,
                    refund_fen=line.paid_fen * quantity // line.quantity,
                    points_returned=0,
                )
            )
        return OrderRefunded(
            order_id=order.order_id,
            refund_id=self._id(),
            customer_id=order.customer_id,
            leader_id=order.leader_id,
            lines=lines,
            refund_fen=sum(line.refund_fen for line in lines),
            points_returned=0,
            picked_up=picked_up,
            refunded_at=utcnow(),
        )


@pytest.fixture
def orders() -> Orders:
    return Orders()
