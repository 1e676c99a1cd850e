"""Events accounts consumes: leaders' word on who is an active leader, so tokens carry `leader` accordingly, and
every service's staff actions for the audit trail."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.audit import service as audit_trail
from services.accounts.staff import service as staff_service
from services.accounts.users import service as users
from services.common.events.consumer import EventHandler
from services.common.events.contract import AUDIT_RECORDED, LEADER_STATUS_CHANGED, LeaderStatusChanged
from services.common.events.store import Event

log = logging.getLogger("services.accounts.events")


async def on_leader_status_changed(session: AsyncSession, event: Event) -> None:
    # Only leaders' word on leadership reaches here: `apply_event` refuses `leader.*` from any other service.
    changed = LeaderStatusChanged.model_validate(event.data)
    await users.record_leader_status(
        session, user_id=changed.leader_id, status=changed.status, at=changed.at, event_id=event.id
    )


async def on_audit_recorded(session: AsyncSession, event: Event) -> None:
    # A staff action in another service: kept once (the inbox and the entry's unique event id both say so).
    payload = audit_trail.parse_event(event)
    actor = await staff_service.audit_actor(session, payload.actor, payload.actor_roles)
    await audit_trail.keep(session, payload, event_id=event.id, actor=actor)


HANDLERS: dict[str, EventHandler] = {
    LEADER_STATUS_CHANGED: on_leader_status_changed,
    AUDIT_RECORDED: on_audit_recorded,
}
