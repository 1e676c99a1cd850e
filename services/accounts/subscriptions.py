"""Events accounts consumes: leaders' word on who is an active leader, so tokens carry `leader` accordingly."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.users import service as users
from services.common.events.consumer import EventHandler
from services.common.events.contract import LEADER_STATUS_CHANGED, LeaderStatusChanged
from services.common.events.store import Event

log = logging.getLogger("services.accounts.events")


async def on_leader_status_changed(session: AsyncSession, event: Event) -> None:
    # Only leaders' word on leadership reaches here: `apply_event` refuses `leader.*` from any other service.
    changed = LeaderStatusChanged.model_validate(event.data)
    await users.record_leader_status(
        session, user_id=changed.leader_id, status=changed.status, at=changed.at, event_id=event.id
    )


HANDLERS: dict[str, EventHandler] = {LEADER_STATUS_CHANGED: on_leader_status_changed}
