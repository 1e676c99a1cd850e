"""Wiring events into a service app: the bus, the relay job, the consumer side and the ops endpoints.

`build_service_app(events=ServiceEvents(...))` calls into this module, so every service gets the same pieces:
- `POST /internal/events` (a service identity, never routed by the gateway): the HTTP bus pushes one event; the
  service applies it exactly once through its inbox and answers 200 (also for a duplicate or a type it does not
  consume). An event is accepted only from the service that owns its type, sent with that service's own token
  (403 `EVENT_NOT_OWNED` otherwise). Any failure is a non-2xx, so the producer's relay retries.
- `GET /internal/outbox?after_seq=&limit=` (a service identity): every event this service ever published, in outbox
  order, delivered or not. Outbox rows are kept after delivery, so a consumer's read model can be rebuilt from
  the producers (`python -m services.analytics.rebuild`).
- `GET /api/v1/events/<service>/dead-letters`, `POST .../dead-letters/{event_id}/replay`, `GET .../outbox`
  (permission `events.operate`).
- the relay as a background job (unless `EVENTS_RELAY_IN_PROCESS=false`), and with `EVENTS_NATS_URL` a durable
  JetStream consumer feeding the same `apply_event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import select, update

from services.common.auth import InvalidToken, MissingPermission, Principal, ServiceUser, require_permission
from services.common.clock import as_utc, utcnow
from services.common.crashpoints import crash_point
from services.common.db import SessionDep
from services.common.errors import Conflict, NotFound, problem_docs
from services.common.events.bus import connect_jetstream
from services.common.events.consumer import EventHandler, EventNotOwned, apply_event, ensure_owned
from services.common.events.relay import DEAD, PENDING, Relay, outbox_counts
from services.common.events.store import Event, Inbox, Outbox
from services.common.pagination import InvalidCursor, Page, PageQuery
from services.common.permissions import Permission
from services.common.settings import ServiceSettings
from services.common.text import SINGLE_LINE_PATTERN

log = logging.getLogger("services.events")

EventsStaff = Annotated[Principal, Depends(require_permission(Permission.EVENTS_OPERATE))]


@dataclass(frozen=True)
class ServiceEvents:
    """What a service publishes (its outbox) and consumes (its inbox and handlers)."""

    outbox: Outbox
    inbox: Inbox
    handlers: Mapping[str, EventHandler]


# ----------------------------------------------------------------------------------------------- consumer side


class EventAck(BaseModel):
    event_id: str
    applied: bool


def internal_events_router(inbox: Inbox, handlers: Mapping[str, EventHandler]) -> APIRouter:
    router = APIRouter(tags=["internal"], include_in_schema=False)

    @router.post("/internal/events", response_model=EventAck, summary="Apply one event (service-to-service)")
    async def receive_event(event: Event, request: Request, caller: ServiceUser) -> EventAck:
        ensure_owned(event, sender=caller.service)
        applied = await apply_event(request.app.state.db, inbox, handlers, event)
        crash_point("consumer.after_commit")
        return EventAck(event_id=event.id, applied=applied)

    return router


async def consume_nats(
    app: FastAPI,
    *,
    service: str,
    inbox: Inbox,
    handlers: Mapping[str, EventHandler],
    stream: str | None = None,
    subject_prefix: str | None = None,
) -> None:
    """Apply events from a durable JetStream consumer, one at a time, acking only after the effect committed.

    `max_ack_pending=1` keeps each aggregate's events in order even across redeliveries (a failed event is retried
    before anything after it); scale out by partitioning subjects, not by raising it.
    """
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    from nats.js.errors import FetchTimeoutError

    settings: ServiceSettings = app.state.settings
    assert settings.events_nats_url
    stream = stream or settings.events_nats_stream
    subject_prefix = subject_prefix or settings.events_subject_prefix
    stopping: asyncio.Event = app.state.stopping
    while not stopping.is_set():
        nc = None
        try:
            nc, js = await connect_jetstream(settings.events_nats_url, stream=stream, subject_prefix=subject_prefix)
            subscription = await js.pull_subscribe(
                subject_prefix + ">",
                durable=service,
                stream=stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    max_ack_pending=1,
                    ack_wait=settings.events_nats_ack_wait_seconds,
                ),
            )
            # On shutdown the event in hand is applied and acked; no new one is fetched.
            while not stopping.is_set():
                try:
                    messages = await subscription.fetch(1, timeout=1)
                except (FetchTimeoutError, TimeoutError):
                    continue
                for message in messages:
                    try:
                        event = Event.model_validate_json(message.data)
                    except ValueError:
                        log.error("unreadable event dropped", extra={"subject": message.subject})
                        await message.term()
                        continue
                    try:
                        await apply_event(app.state.db, inbox, handlers, event)
                    except EventNotOwned:
                        # NATS carries no token: the subject's publish permissions must keep services to their own
                        # types (docs/architecture.md); the envelope's source is checked here all the same.
                        log.error(
                            "event from a service that does not own its type dropped",
                            extra={"event_id": event.id, "event_type": event.type, "source": event.source},
                        )
                        await message.term()
                        continue
                    except Exception:
                        log.exception("event failed; redelivered later", extra={"event_id": event.id})
                        await message.nak(delay=1)
                        continue
                    crash_point("consumer.after_commit")
                    await message.ack()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("NATS consumer lost its connection; reconnecting", extra={"service": service})
            await asyncio.sleep(1)
        finally:
            if nc is not None:
                # Closing a broken connection may fail too; there is nothing left to do about it.
                with contextlib.suppress(Exception):
                    await nc.close()


# ------------------------------------------------------------------------------------------- producer side (ops)


class DeadLetterNotFound(NotFound):
    code = "DEAD_LETTER_NOT_FOUND"
    title = "No such dead letter"


class EventNotDead(Conflict):
    code = "EVENT_NOT_DEAD"
    title = "Only dead letters can be replayed"


class OutboxEvent(BaseModel):
    seq: int
    event_id: str
    type: str
    aggregate: str
    occurred_at: datetime
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    data: dict[str, Any]


class OutboxSummary(BaseModel):
    pending: int
    delivered: int
    dead: int


def _outbox_event(row: Any) -> OutboxEvent:
    return OutboxEvent(
        seq=row.seq,
        event_id=row.event_id,
        type=row.type,
        aggregate=row.aggregate,
        occurred_at=as_utc(row.occurred_at),
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=as_utc(row.next_attempt_at) if row.next_attempt_at else None,
        delivered_at=as_utc(row.delivered_at) if row.delivered_at else None,
        data=row.data,
    )


EventId = Annotated[str, Path(min_length=1, max_length=64, pattern=SINGLE_LINE_PATTERN, description="The event's id")]


def dead_letters_router(service: str, outbox: Outbox) -> APIRouter:
    router = APIRouter(prefix=f"/api/v1/events/{service}", tags=["events"])
    t = outbox.table

    @router.get(
        "/outbox",
        response_model=OutboxSummary,
        summary="Count this service's outgoing events by status (staff: events.operate)",
        responses=problem_docs(InvalidToken, MissingPermission),
    )
    async def outbox_summary(request: Request, user: EventsStaff) -> OutboxSummary:
        return OutboxSummary(**await outbox_counts(request.app.state.db, t))

    @router.get(
        "/dead-letters",
        response_model=Page[OutboxEvent],
        summary="Events parked after too many failed deliveries (staff: events.operate)",
        responses=problem_docs(InvalidToken, MissingPermission, InvalidCursor),
    )
    async def list_dead_letters(session: SessionDep, user: EventsStaff, page: PageQuery) -> Page[OutboxEvent]:
        query = select(t).where(t.c.status == DEAD).order_by(t.c.seq).limit(page.limit + 1)
        after = page.after_int()
        if after is not None:
            query = query.where(t.c.seq > after)
        conn = await session.connection()
        rows = (await conn.execute(query)).all()
        return page.page(rows, key=lambda r: [r.seq], convert=_outbox_event)

    @router.post(
        "/dead-letters/{event_id}/replay",
        response_model=OutboxEvent,
        summary="Send a dead letter again (staff: events.operate)",
        responses=problem_docs(InvalidToken, MissingPermission, DeadLetterNotFound, EventNotDead),
    )
    async def replay_dead_letter(event_id: EventId, session: SessionDep, user: EventsStaff) -> OutboxEvent:
        """Put the event back in the queue with a fresh attempt count; it and the events after it flow again."""
        conn = await session.connection()
        result = await conn.execute(
            update(t)
            .where(t.c.event_id == event_id, t.c.status == DEAD)
            .values(status=PENDING, attempts=0, next_attempt_at=utcnow(), last_error=None)
        )
        row = (await conn.execute(select(t).where(t.c.event_id == event_id))).first()
        if row is None:
            raise DeadLetterNotFound(f"No event {event_id} in the {service} outbox")
        if result.rowcount == 0:
            raise EventNotDead(f"Event {event_id} is {row.status}, not dead")
        log.info("dead letter replayed", extra={"event_id": event_id, "by": user.sub})
        return _outbox_event(row)

    return router


class OutboxPage(BaseModel):
    events: list[Event]
    #: Pass as `after_seq` for the next page; None when this page reached the end of the outbox.
    next_after_seq: int | None


MAX_OUTBOX_PAGE = 5000


def internal_outbox_router(service: str, outbox: Outbox) -> APIRouter:
    router = APIRouter(tags=["internal"], include_in_schema=False)
    t = outbox.table

    @router.get("/internal/outbox", response_model=OutboxPage, summary="Published events in order (service)")
    async def read_outbox(
        session: SessionDep,
        caller: ServiceUser,
        after_seq: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_OUTBOX_PAGE)] = 500,
    ) -> OutboxPage:
        """Events with `seq > after_seq`, oldest first; the order in which the relay delivers each aggregate's."""
        conn = await session.connection()
        rows = (await conn.execute(select(t).where(t.c.seq > after_seq).order_by(t.c.seq).limit(limit))).all()
        events = [
            Event(
                id=row.event_id,
                type=row.type,
                occurred_at=as_utc(row.occurred_at),
                source=service,
                aggregate=row.aggregate,
                data=row.data,
            )
            for row in rows
        ]
        return OutboxPage(events=events, next_after_seq=rows[-1].seq if len(rows) == limit else None)

    return router


# --------------------------------------------------------------------------------------------------- app wiring


def relay_for(app: FastAPI, events: ServiceEvents) -> Relay:
    settings: ServiceSettings = app.state.settings
    return Relay(
        app.state.db,
        events.outbox.table,
        app.state.bus,
        source=app.state.service,
        max_attempts=settings.events_max_attempts,
    )


def event_routers(service: str, events: ServiceEvents) -> list[APIRouter]:
    routers = [dead_letters_router(service, events.outbox), internal_outbox_router(service, events.outbox)]
    if events.handlers:
        routers.append(internal_events_router(events.inbox, events.handlers))
    return routers
