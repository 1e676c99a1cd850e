"""Applying an event in a consuming service: effect and inbox row in one transaction, duplicates ignored."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.db import Database
from services.common.events.store import Event, Inbox

log = logging.getLogger("services.events")

#: A handler applies one event type's effect inside the given transaction; it never commits.
EventHandler = Callable[[AsyncSession, Event], Awaitable[None]]


async def apply_event(db: Database, inbox: Inbox, handlers: Mapping[str, EventHandler], event: Event) -> bool:
    """Apply `event` exactly once. Returns False for a duplicate or a type this service does not consume.

    An exception from the handler rolls everything back (the inbox row too), so the event is retried later.
    """
    handler = handlers.get(event.type)
    if handler is None:
        return False
    async with db.transaction() as session:
        if not await inbox.accept(session, event):
            log.info("duplicate event ignored", extra={"event_id": event.id, "event_type": event.type})
            return False
        await handler(session, event)
    return True
