"""Events accounts consumes: leaders' word on who is an active leader, so tokens carry `leader` accordingly."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.users import service as users
from services.common.events.consumer import EventHandler
from services.common.events.contract import LEADER_STATUS_CHANGED, LeaderStatusChanged
from services.common.events.store import Event

log = logging.getLogger("services.accounts.events")

#: The only service whose word on leadership counts: a role is granted here, so nobody else may claim it.
LEADER_STATUS_OWNER = "leaders"


async def on_leader_status_changed(session: AsyncSession, event: Event) -> None:
    if event.source != LEADER_STATUS_OWNER:
        log.error("leader status from a service that does not own it ignored", extra={"source": event.source})
        return
    changed = LeaderStatusChanged.model_validate(event.data)
    await users.record_leader_status(
        session, user_id=changed.leader_id, status=changed.status, at=changed.at, event_id=event.id
    )


HANDLERS: dict[str, EventHandler] = {LEADER_STATUS_CHANGED: on_leader_status_changed}
