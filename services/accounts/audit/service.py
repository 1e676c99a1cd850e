"""The audit trail: entries arrive as `audit.recorded` from every service (and directly from accounts' own staff
routes), are kept once per event id and never changed; staff with `audit.read` page through them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.audit import repository
from services.accounts.audit.models import AuditEntry
from services.accounts.audit.schemas import AuditEntryRead, AuditQuery
from services.common import audit
from services.common.auth import Principal
from services.common.clock import utcnow
from services.common.events.consumer import EventNotOwned
from services.common.events.contract import AuditRecorded
from services.common.events.store import Event
from services.common.pagination import Page

SERVICE = "accounts"


@dataclass(frozen=True)
class KnownActor:
    """What accounts knows of an entry's actor: a staff account's username and duties (none for a service or the CLI).

    The staff package looks it up (`staff.service.audit_actor`): the trail sits below staff, which records into it."""

    username: str | None
    roles: list[str]


def parse_event(event: Event) -> AuditRecorded:
    """An `audit.recorded` event's entry; the payload must name the service that sent it."""
    payload = AuditRecorded.model_validate(event.data)
    if payload.service != event.source:
        # The sender was checked against the envelope already; the payload must not name another service either.
        raise EventNotOwned(f"An audit entry from {event.source!r} cannot speak for {payload.service!r}")
    return payload


async def keep(session: AsyncSession, payload: AuditRecorded, *, event_id: str, actor: KnownActor) -> bool:
    """Keep one entry; False when it was kept before (its event id is unique in the trail)."""
    entry = AuditEntry(
        event_id=event_id,
        service=payload.service,
        actor=payload.actor,
        actor_username=actor.username,
        actor_roles=actor.roles,
        action=payload.action,
        target_type=payload.target_type,
        target_id=payload.target_id,
        before=payload.before,
        after=payload.after,
        at=payload.at,
        recorded_at=utcnow(),
    )
    return await repository.insert(session, entry)


def own_entry(
    *,
    actor: Principal | audit.Actor | str,
    action: str,
    target: tuple[str, str | int],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    at: datetime,
) -> tuple[AuditRecorded, str]:
    """An entry for accounts' own staff actions, kept straight in the action's transaction (no event needed), and
    the event id it is kept under."""
    payload = audit.entry(service=SERVICE, actor=actor, action=action, target=target, before=before, after=after, at=at)
    return payload, str(uuid.uuid4())


async def list_entries(session: AsyncSession, *, query: AuditQuery, tz: ZoneInfo) -> Page[AuditEntryRead]:
    page = query.page_params()
    start, end = query.window(tz)
    target_type, target_id = None, None
    if query.target is not None:
        target_type, _, rest = query.target.partition(":")
        target_id = rest or None
    rows = await repository.list_entries(
        session,
        limit=page.limit + 1,
        before_id=page.after_int(),
        actor=query.actor,
        target_type=target_type,
        target_id=target_id,
        action=query.action,
        service=query.service,
        start=start,
        end=end,
    )
    return page.page(rows, key=lambda e: [e.id], convert=AuditEntryRead.model_validate)
