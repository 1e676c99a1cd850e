"""Applying an event in a consuming service: effect and inbox row in one transaction, duplicates ignored."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.db import Database
from services.common.errors import Forbidden
from services.common.events.contract import owner_of
from services.common.events.store import Event, Inbox

log = logging.getLogger("services.events")

#: A handler applies one event type's effect inside the given transaction; it never commits.
EventHandler = Callable[[AsyncSession, Event], Awaitable[None]]


class EventNotOwned(Forbidden):
    code = "EVENT_NOT_OWNED"
    title = "Events of this type come only from the service that owns it"


def ensure_owned(event: Event, *, sender: str | None = None) -> None:
    """Refuse an event whose `source`, or whose sender (the service identity that delivered it), is not the owner
    of its type (`services.common.events.contract.EVENT_OWNERS`; a self-owned type belongs to its `source`, so
    only the sender's identity is checked)."""
    owner = owner_of(event.type, event.source)
    if owner is None or event.source != owner or (sender is not None and sender != owner):
        raise EventNotOwned(
            f"{event.type} events come only from {owner or 'no service'}; "
            f"this one says it is from {event.source!r}" + (f" and was sent by {sender!r}" if sender else "")
        )


async def apply_event(db: Database, inbox: Inbox, handlers: Mapping[str, EventHandler], event: Event) -> bool:
    """Apply `event` exactly once. Returns False for a duplicate or a type this service does not consume.

    An event whose `source` does not own its type raises `EventNotOwned` and changes nothing. An exception from the
    handler rolls everything back (the inbox row too), so the event is retried later.
    """
    ensure_owned(event)
    handler = handlers.get(event.type)
    if handler is None:
        return False
    async with db.transaction() as session:
        if not await inbox.accept(session, event):
            log.info("duplicate event ignored", extra={"event_id": event.id, "event_type": event.type})
            return False
        await handler(session, event)
    return True
