"""Fixtures of the analytics tests: the app on a movable clock, and a `Feed` that publishes events as their
producers would (each with the source, aggregate and payload the producer uses) through the real inbox and
handlers, keeping every event so a test can deliver them again or rebuild from them."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from services.analytics.clients import LeaderSummary, NextLevel
from services.analytics.db import inbox
from services.analytics.rebuild import OutboxPage
from services.analytics.subscriptions import build_handlers
from services.common.events import contract as et
from services.common.events.consumer import apply_event
from services.common.events.store import Event
from services.common.testing import asgi_client, bearer
from tests.conftest import AppFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
OPS = bearer("ops1", ["ops"])


def local(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A moment given in business (Shanghai) time, as the producers send it: UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def leader(sub: str) -> dict[str, str]:
    return bearer(sub, ["leader", "customer"])


def manager(sub: str) -> dict[str, str]:
    return bearer(sub, ["manager"])


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


class FakeLeaders:
    """The leaders service's summary, as the dashboard reads it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def summary(self, leader_id: str) -> LeaderSummary:
        self.calls.append(leader_id)
        return LeaderSummary(
            leader_id=leader_id,
            status="active",
            level="silver",
            manager_id=None,
            pending_fen=1234,
            available_fen=5678,
            window_days=30,
            window_sales_fen=60_000,
            window_completed_orders=3,
            next_level=NextLevel(code="gold", name="Gold", min_sales_fen=100_000, min_completed_orders=10),
            progress_bp=3000,
        )


_SOURCES = {"order": "orders", "flash_sale": "orders", "leader": "leaders", "referral": "points", "points": "points"}


@dataclass
class Feed:
    """Publishes events into the analytics app and remembers them in publication order."""

    app: FastAPI
    events: list[Event] = field(default_factory=list)
    _refund_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def publish(self, type_: str, aggregate: str, payload: BaseModel) -> bool:
        event = Event(
            id=str(uuid.uuid4()),
            type=type_,
            occurred_at=datetime.now(UTC),
            source=_SOURCES[type_.split(".")[0]],
            aggregate=aggregate,
            data=payload.model_dump(mode="json"),
        )
        self.events.append(event)
        return await deliver(self.app, event)

    async def join(self, leader_id: str, customer_id: str, at: datetime) -> bool:
        payload = et.MemberChanged(leader_id=leader_id, customer_id=customer_id, at=at)
        return await self.publish(et.LEADER_MEMBER_JOINED, f"member:{customer_id}", payload)

    async def leave(self, leader_id: str, customer_id: str, at: datetime) -> bool:
        payload = et.MemberChanged(leader_id=leader_id, customer_id=customer_id, at=at)
        return await self.publish(et.LEADER_MEMBER_LEFT, f"member:{customer_id}", payload)

    async def leader_updated(
        self, leader_id: str, *, manager_id: str | None, at: datetime, level: str | None = None
    ) -> bool:
        payload = et.LeaderUpdated(leader_id=leader_id, status="active", level=level, manager_id=manager_id, at=at)
        return await self.publish(et.LEADER_UPDATED, f"leader:{leader_id}", payload)

    async def paid(
        self,
        order_id: int,
        leader_id: str,
        customer_id: str,
        lines: Sequence[tuple[int, str, int, int]],
        at: datetime,
        *,
        points_used: int = 0,
        flash_sale_id: int | None = None,
    ) -> et.OrderPaid:
        """`lines` are (product_id, product name, quantity, paid_fen)."""
        paid_lines = [
            et.OrderLinePaid(
                line_id=order_id * 10 + i,
                product_id=product_id,
                product_name=name,
                quantity=quantity,
                unit_price_fen=paid_fen // quantity,
                amount_fen=paid_fen,
                points_discount_fen=0,
                paid_fen=paid_fen,
            )
            for i, (product_id, name, quantity, paid_fen) in enumerate(lines)
        ]
        total = sum(line.paid_fen for line in paid_lines)
        order = et.OrderPaid(
            order_id=order_id,
            customer_id=customer_id,
            leader_id=leader_id,
            lines=paid_lines,
            goods_fen=total,
            points_used=points_used,
            points_discount_fen=0,
            paid_fen=total,
            paid_at=at,
            flash_sale_id=flash_sale_id,
        )
        await self.publish(et.ORDER_PAID, f"order:{order_id}", order)
        return order

    async def placed(
        self, order_id: int, leader_id: str, customer_id: str, quantity: int, at: datetime, *, flash_sale_id: int
    ) -> None:
        line = et.OrderLinePlaced(
            line_id=order_id * 10, product_id=9, product_name="Durian", quantity=quantity, unit_price_fen=100,
            amount_fen=100 * quantity,
        )  # fmt: skip
        payload = et.OrderPlaced(
            order_id=order_id,
            customer_id=customer_id,
            leader_id=leader_id,
            lines=[line],
            goods_fen=line.amount_fen,
            payable_fen=line.amount_fen,
            placed_at=at,
            flash_sale_id=flash_sale_id,
        )
        await self.publish(et.ORDER_PLACED, f"order:{order_id}", payload)

    async def cancelled(self, order_id: int, leader_id: str, customer_id: str, at: datetime) -> None:
        payload = et.OrderCancelled(
            order_id=order_id, customer_id=customer_id, leader_id=leader_id, points_used=0, cancelled_at=at,
            reason="customer",
        )  # fmt: skip
        await self.publish(et.ORDER_CANCELLED, f"order:{order_id}", payload)

    async def refunded(
        self, order: et.OrderPaid, lines: Sequence[tuple[int, int, int]], at: datetime, *, picked_up: bool = False
    ) -> None:
        """`lines` are (product_id, quantity, refund_fen)."""
        refund_lines = [
            et.OrderLineRefund(
                line_id=next(ln.line_id for ln in order.lines if ln.product_id == product_id),
                product_id=product_id,
                quantity=quantity,
                line_quantity=next(ln.quantity for ln in order.lines if ln.product_id == product_id),
                refund_fen=refund_fen,
                points_returned=0,
            )
            for product_id, quantity, refund_fen in lines
        ]
        payload = et.OrderRefunded(
            order_id=order.order_id,
            refund_id=next(self._refund_ids),
            customer_id=order.customer_id,
            leader_id=order.leader_id,
            lines=refund_lines,
            refund_fen=sum(line.refund_fen for line in refund_lines),
            points_returned=0,
            picked_up=picked_up,
            refunded_at=at,
        )
        await self.publish(et.ORDER_REFUNDED, f"order:{order.order_id}", payload)

    async def picked_up(self, order: et.OrderPaid, at: datetime) -> None:
        payload = et.OrderPickedUp(
            order_id=order.order_id,
            customer_id=order.customer_id,
            leader_id=order.leader_id,
            picked_up_at=at,
            lines=[],
            paid_fen=order.paid_fen,
            refunded_fen=0,
        )
        await self.publish(et.ORDER_PICKED_UP, f"order:{order.order_id}", payload)

    async def signed_in(self, user_id: str, at: datetime) -> None:
        await self.publish(et.POINTS_SIGNED_IN, f"user:{user_id}", et.SignedIn(user_id=user_id, at=at, streak=1))

    async def referral(self, inviter_id: str, invitee_id: str, at: datetime) -> None:
        payload = et.ReferralBound(inviter_id=inviter_id, invitee_id=invitee_id, at=at)
        await self.publish(et.REFERRAL_BOUND, f"user:{invitee_id}", payload)

    async def flash_sale(self, sale_id: int, stock: int, starts_at: datetime) -> None:
        payload = et.FlashSaleCreated(
            flash_sale_id=sale_id, product_id=9, product_name="Durian", price_fen=100, stock=stock, per_user_limit=2,
            starts_at=starts_at, ends_at=starts_at + timedelta(hours=2), created_at=starts_at - timedelta(days=1),
        )  # fmt: skip
        await self.publish(et.FLASH_SALE_CREATED, f"flash_sale:{sale_id}", payload)


async def deliver(app: FastAPI, event: Event) -> bool:
    return await apply_event(app.state.db, inbox, build_handlers(app.state.settings.tz), event)


class ListSource:
    """An outbox source over events kept in memory, paged like `GET /internal/outbox`."""

    def __init__(self, name: str, events: Sequence[Event]) -> None:
        self.name = name
        self._events = list(events)

    async def page(self, *, after_seq: int, limit: int) -> OutboxPage:
        chunk = self._events[after_seq : after_seq + limit]
        end = after_seq + len(chunk)
        return OutboxPage(events=chunk, next_after_seq=end if len(chunk) == limit else None)


def sources_of(events: Sequence[Event]) -> list[ListSource]:
    by_source: dict[str, list[Event]] = {}
    for event in events:
        by_source.setdefault(event.source, []).append(event)
    return [ListSource(name, found) for name, found in sorted(by_source.items())]


@pytest.fixture
async def analytics_app(make_app: AppFactory) -> FastAPI:
    app = await make_app("analytics")
    app.state.leaders = FakeLeaders()
    app.state.clock = Clock(local(2025, 3, 7, 12))
    return app


@pytest.fixture
def feed(analytics_app: FastAPI) -> Feed:
    return Feed(analytics_app)


@pytest.fixture
async def client(analytics_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(analytics_app) as c:
        yield c


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.headers.get("content-type", "").startswith("application/") else response
