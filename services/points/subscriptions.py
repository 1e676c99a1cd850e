"""Events the points service consumes: the order life, and `user.erased`. Each handler parses its payload and
calls a plain service function; `apply_event` runs it in one transaction with the inbox row, and each effect is
also unique by its own key (order id, refund id), so neither a redelivery nor a second event for the same fact
changes anything twice."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import utcnow
from services.common.events.consumer import EventHandler
from services.common.events.contract import (
    ORDER_CANCELLED,
    ORDER_PAID,
    ORDER_PICKED_UP,
    ORDER_REFUNDED,
    USER_ERASED,
    OrderCancelled,
    OrderPaid,
    OrderPickedUp,
    OrderRefunded,
    UserErased,
)
from services.common.events.store import Event
from services.points.config import get_settings
from services.points.holds import service as holds
from services.points.privacy import service as privacy
from services.points.purchases import service as purchases
from services.points.referrals import service as referrals


@lru_cache(maxsize=1)
def _business_tz() -> ZoneInfo:
    # Handlers get only (session, event); the business time zone is process-wide (BUSINESS_TIMEZONE).
    return get_settings().tz


async def on_order_paid(session: AsyncSession, event: Event) -> None:
    paid = OrderPaid.model_validate(event.data)
    await holds.commit_hold(session, order_id=paid.order_id, points_used=paid.points_used, now=utcnow())


async def on_order_cancelled(session: AsyncSession, event: Event) -> None:
    cancelled = OrderCancelled.model_validate(event.data)
    await holds.release_hold(
        session,
        order_id=cancelled.order_id,
        now=utcnow(),
        reason=f"order cancelled ({cancelled.reason})",
        committed_ok=True,
    )


async def on_order_picked_up(session: AsyncSession, event: Event) -> None:
    picked = OrderPickedUp.model_validate(event.data)
    now = utcnow()
    if await purchases.credit_purchase(session, order=picked, now=now, tz=_business_tz()):
        # After the award, which is what makes this order count as the buyer's first completed one.
        await referrals.qualify_on_first_completed_order(
            session,
            invitee_id=picked.customer_id,
            order_id=picked.order_id,
            completed_at=picked.picked_up_at,
            now=now,
            tz=_business_tz(),
        )


async def on_order_refunded(session: AsyncSession, event: Event) -> None:
    refund = OrderRefunded.model_validate(event.data)
    await purchases.apply_refund(session, refund=refund, now=utcnow(), tz=_business_tz())


async def on_user_erased(session: AsyncSession, event: Event) -> None:
    await privacy.erase_person(session, user_id=UserErased.model_validate(event.data).user_id)


HANDLERS: dict[str, EventHandler] = {
    ORDER_PAID: on_order_paid,
    ORDER_CANCELLED: on_order_cancelled,
    ORDER_PICKED_UP: on_order_picked_up,
    ORDER_REFUNDED: on_order_refunded,
    USER_ERASED: on_user_erased,
}
