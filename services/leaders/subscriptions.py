"""The events the leaders service consumes: each parses its payload and calls plain service functions.

Order events accrue, freeze and reverse commission; `staff.updated` keeps the managers' names and contacts leaders
see; `user.erased` anonymises the person. Handlers get only (session, event), so the time of the effect is read
here, as the points handlers do, and the settings they apply are bound when `create_app` builds them."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import utcnow
from services.common.events.consumer import EventHandler
from services.common.events.contract import (
    ORDER_PAID,
    ORDER_PICKED_UP,
    ORDER_REFUNDED,
    STAFF_UPDATED,
    USER_ERASED,
    OrderPaid,
    OrderPickedUp,
    OrderRefunded,
    StaffUpdated,
    UserErased,
)
from services.common.events.store import Event
from services.leaders.commission import service as commission
from services.leaders.config import Settings
from services.leaders.privacy import service as privacy
from services.leaders.profiles import service as profiles

HANDLED_EVENT_TYPES = frozenset({ORDER_PAID, ORDER_PICKED_UP, ORDER_REFUNDED, STAFF_UPDATED, USER_ERASED})


def build_handlers(settings: Settings) -> dict[str, EventHandler]:
    """The handlers, with the settings they apply bound (the app's own, so tests and `create_app` agree)."""

    async def accrue_commission_on_payment(session: AsyncSession, event: Event) -> None:
        await commission.accrue_order(
            session,
            order=OrderPaid.model_validate(event.data),
            now=utcnow(),
            commission_on_own_orders=settings.commission_on_own_orders,
        )

    async def start_commission_freeze_on_pickup(session: AsyncSession, event: Event) -> None:
        await commission.start_freeze(session, picked_up=OrderPickedUp.model_validate(event.data))

    async def reverse_commission_on_refund(session: AsyncSession, event: Event) -> None:
        await commission.reverse_refund(session, refund=OrderRefunded.model_validate(event.data), now=utcnow())

    async def keep_manager_contact(session: AsyncSession, event: Event) -> None:
        await profiles.record_staff(session, staff=StaffUpdated.model_validate(event.data))

    async def forget_person(session: AsyncSession, event: Event) -> None:
        await privacy.erase_person(session, user_id=UserErased.model_validate(event.data).user_id)

    return {
        ORDER_PAID: accrue_commission_on_payment,
        ORDER_PICKED_UP: start_commission_freeze_on_pickup,
        ORDER_REFUNDED: reverse_commission_on_refund,
        STAFF_UPDATED: keep_manager_contact,
        USER_ERASED: forget_person,
    }
