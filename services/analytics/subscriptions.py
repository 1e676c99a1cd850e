"""The events analytics consumes: each handler parses its payload and calls the read-model function for it.

`apply_event` runs a handler in one transaction with the inbox row; the business time zone is bound when the
handlers are built, since every figure is kept by local date.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.analytics.ingest import service as ingest
from services.analytics.privacy import service as privacy
from services.common.events import contract as et
from services.common.events.consumer import EventHandler
from services.common.events.store import Event

HANDLED_EVENT_TYPES = frozenset(
    {
        et.ORDER_PLACED,
        et.ORDER_PAID,
        et.ORDER_PICKED_UP,
        et.ORDER_CANCELLED,
        et.ORDER_REFUNDED,
        et.FLASH_SALE_CREATED,
        et.LEADER_MEMBER_JOINED,
        et.LEADER_MEMBER_LEFT,
        et.LEADER_STATUS_CHANGED,
        et.LEADER_UPDATED,
        et.REFERRAL_BOUND,
        et.POINTS_SIGNED_IN,
        et.USER_ERASED,
    }
)


def build_handlers(tz: ZoneInfo) -> dict[str, EventHandler]:
    async def on_member_joined(session: AsyncSession, event: Event) -> None:
        await ingest.member_joined(await session.connection(), et.MemberChanged.model_validate(event.data), tz)

    async def on_member_left(session: AsyncSession, event: Event) -> None:
        await ingest.member_left(await session.connection(), et.MemberChanged.model_validate(event.data), tz)

    async def on_leader_updated(session: AsyncSession, event: Event) -> None:
        await ingest.leader_updated(await session.connection(), et.LeaderUpdated.model_validate(event.data))

    async def on_leader_status_changed(session: AsyncSession, event: Event) -> None:
        change = et.LeaderStatusChanged.model_validate(event.data)
        await ingest.leader_status_changed(await session.connection(), change)

    async def on_order_placed(session: AsyncSession, event: Event) -> None:
        await ingest.order_placed(await session.connection(), et.OrderPlaced.model_validate(event.data))

    async def on_order_paid(session: AsyncSession, event: Event) -> None:
        await ingest.order_paid(await session.connection(), et.OrderPaid.model_validate(event.data), tz)

    async def on_order_refunded(session: AsyncSession, event: Event) -> None:
        await ingest.order_refunded(await session.connection(), et.OrderRefunded.model_validate(event.data), tz)

    async def on_order_picked_up(session: AsyncSession, event: Event) -> None:
        await ingest.order_picked_up(await session.connection(), et.OrderPickedUp.model_validate(event.data), tz)

    async def on_order_cancelled(session: AsyncSession, event: Event) -> None:
        await ingest.order_cancelled(await session.connection(), et.OrderCancelled.model_validate(event.data))

    async def on_flash_sale_created(session: AsyncSession, event: Event) -> None:
        sale = et.FlashSaleCreated.model_validate(event.data)
        await ingest.flash_sale_created(await session.connection(), sale, tz)

    async def on_signed_in(session: AsyncSession, event: Event) -> None:
        await ingest.signed_in(await session.connection(), et.SignedIn.model_validate(event.data), tz)

    async def on_referral_bound(session: AsyncSession, event: Event) -> None:
        await ingest.referral_bound(await session.connection(), et.ReferralBound.model_validate(event.data), tz)

    async def on_user_erased(session: AsyncSession, event: Event) -> None:
        await privacy.erase_person(await session.connection(), user_id=et.UserErased.model_validate(event.data).user_id)

    handlers: dict[str, EventHandler] = {
        et.LEADER_MEMBER_JOINED: on_member_joined,
        et.LEADER_MEMBER_LEFT: on_member_left,
        et.LEADER_UPDATED: on_leader_updated,
        et.LEADER_STATUS_CHANGED: on_leader_status_changed,
        et.ORDER_PLACED: on_order_placed,
        et.ORDER_PAID: on_order_paid,
        et.ORDER_REFUNDED: on_order_refunded,
        et.ORDER_PICKED_UP: on_order_picked_up,
        et.ORDER_CANCELLED: on_order_cancelled,
        et.FLASH_SALE_CREATED: on_flash_sale_created,
        et.POINTS_SIGNED_IN: on_signed_in,
        et.REFERRAL_BOUND: on_referral_bound,
        et.USER_ERASED: on_user_erased,
    }
    assert set(handlers) == HANDLED_EVENT_TYPES
    return handlers
