"""The events the orders service consumes: only `user.erased` (orders publishes the order life, it follows none)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.events.consumer import EventHandler
from services.common.events.contract import USER_ERASED, UserErased
from services.common.events.store import Event
from services.orders.privacy import service as privacy


async def forget_person(session: AsyncSession, event: Event) -> None:
    await privacy.erase_person(session, user_id=UserErased.model_validate(event.data).user_id)


HANDLERS: dict[str, EventHandler] = {USER_ERASED: forget_person}
