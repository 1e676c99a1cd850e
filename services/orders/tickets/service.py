"""Tickets: a customer or leader opens one (a complaint or a suggestion, about an order or not), support takes it,
answers, resolves or closes it; the opener may answer back, which reopens it, or close it. Every reply and every
change is kept with who and when, and the first answer's time is set once, by the first support reply."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.events.contract import TICKET_OPENED, TICKET_UPDATED, TicketOpened, TicketUpdated
from services.common.pagination import Page
from services.common.permissions import Permission
from services.orders.db import outbox
from services.orders.orders.access import readable_order
from services.orders.tickets import repository
from services.orders.tickets.access import readable_ticket
from services.orders.tickets.exceptions import (
    EmptyTicketChange,
    InvalidTicketStatus,
    NotTicketHandler,
    TicketChanged,
    TicketClosed,
    TicketStatusNotSettable,
)
from services.orders.tickets.models import Ticket, TicketAction, TicketHistory, TicketReply, TicketRole, TicketStatus
from services.orders.tickets.schemas import (
    ReplyCreate,
    TicketChange,
    TicketCreate,
    TicketHistoryRead,
    TicketQuery,
    TicketRead,
    TicketReplyRead,
    TicketSummary,
)


def _tid(ticket: Ticket) -> int:
    assert ticket.id is not None
    return ticket.id


def _first_answer_seconds(ticket: Ticket) -> int | None:
    if ticket.first_answered_at is None:
        return None
    return int((ticket.first_answered_at - ticket.created_at).total_seconds())


def _summary(ticket: Ticket) -> TicketSummary:
    return TicketSummary(
        id=_tid(ticket),
        kind=ticket.kind,
        status=ticket.status,
        opened_by=ticket.opened_by,
        opener_role=ticket.opener_role,
        order_id=ticket.order_id,
        leader_id=ticket.leader_id,
        text=ticket.text,
        images=list(ticket.images),
        assignee_id=ticket.assignee_id,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        first_answered_at=ticket.first_answered_at,
        first_answer_seconds=_first_answer_seconds(ticket),
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
    )


async def _read(session: AsyncSession, ticket_id: int) -> TicketRead:
    ticket = await repository.get_ticket(session, ticket_id)
    assert ticket is not None, "tickets are never deleted"
    return TicketRead(
        **_summary(ticket).model_dump(),
        replies=[TicketReplyRead.model_validate(r) for r in await repository.replies_of(session, ticket_id)],
        history=[TicketHistoryRead.model_validate(h) for h in await repository.history_of(session, ticket_id)],
    )


def _role(ticket: Ticket, user: Principal) -> TicketRole:
    """Support acts as staff on others' tickets; on their own ticket everyone is its opener."""
    if ticket.opened_by == user.sub:
        return ticket.opener_role
    return TicketRole.STAFF


async def _updated(
    session: AsyncSession,
    ticket_id: int,
    *,
    change: str,
    actor: str,
    role: TicketRole,
    now: datetime,
) -> None:
    ticket = await repository.get_ticket(session, ticket_id)
    assert ticket is not None
    payload = TicketUpdated(
        ticket_id=ticket_id,
        change=change,
        status=ticket.status,
        actor=actor,
        actor_role=role,
        assignee_id=ticket.assignee_id,
        first_answered_at=ticket.first_answered_at,
        first_answer_seconds=_first_answer_seconds(ticket),
        at=now,
    )
    await outbox.record(
        session, type=TICKET_UPDATED, aggregate=f"ticket:{ticket_id}", data=payload.model_dump(mode="json")
    )


async def open_ticket(session: AsyncSession, *, user: Principal, data: TicketCreate, now: datetime) -> TicketRead:
    role = TicketRole.LEADER if user.has("leader") else TicketRole.CUSTOMER
    leader_id = user.sub if role == TicketRole.LEADER else None
    if data.order_id is not None:
        # Only an order the opener may read: their own, or one at their pickup point. A leader complaining about
        # their own purchase does so as its customer.
        order = await readable_order(session, data.order_id, user)
        leader_id = order.leader_id
        if order.customer_id == user.sub:
            role = TicketRole.CUSTOMER
    ticket_id = await repository.insert_ticket(
        session,
        Ticket(
            kind=data.kind,
            status=TicketStatus.OPEN,
            opened_by=user.sub,
            opener_role=role,
            order_id=data.order_id,
            leader_id=leader_id,
            text=data.text,
            images=list(data.images),
            created_at=now,
            updated_at=now,
        ),
    )
    await repository.add(
        session,
        TicketHistory(
            ticket_id=ticket_id,
            action=TicketAction.OPENED,
            to_status=TicketStatus.OPEN,
            actor=user.sub,
            actor_role=role,
            created_at=now,
        ),
    )
    payload = TicketOpened(
        ticket_id=ticket_id,
        kind=data.kind,
        opened_by=user.sub,
        opener_role=role,
        order_id=data.order_id,
        leader_id=leader_id,
        opened_at=now,
    )
    await outbox.record(
        session, type=TICKET_OPENED, aggregate=f"ticket:{ticket_id}", data=payload.model_dump(mode="json")
    )
    return await _read(session, ticket_id)


async def reply(
    session: AsyncSession, *, ticket_id: int, user: Principal, data: ReplyCreate, now: datetime
) -> TicketRead:
    """A support reply answers the ticket (the first one sets `first_answered_at`); the opener's reopens it."""
    ticket = await readable_ticket(session, ticket_id, user)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketClosed(f"Ticket {ticket_id} is closed")
    role = _role(ticket, user)
    to_status: TicketStatus
    if role == TicketRole.STAFF:
        to_status = TicketStatus.ANSWERED if ticket.status == TicketStatus.OPEN else ticket.status
    else:
        to_status = TicketStatus.OPEN
    values: dict[str, object] = {"status": to_status, "updated_at": now}
    if to_status == TicketStatus.OPEN:
        values["resolved_at"] = None
    if not await repository.change(session, ticket_id=ticket_id, expected=ticket.status, values=values):
        raise TicketChanged(f"Ticket {ticket_id} changed meanwhile")
    await repository.add(
        session,
        TicketReply(
            ticket_id=ticket_id,
            author=user.sub,
            author_role=role,
            text=data.text,
            images=list(data.images),
            created_at=now,
        ),
    )
    first = role == TicketRole.STAFF and await repository.mark_first_answer(session, ticket_id=ticket_id, now=now)
    await repository.add(
        session,
        TicketHistory(
            ticket_id=ticket_id,
            action=TicketAction.REPLIED,
            from_status=ticket.status,
            to_status=to_status,
            actor=user.sub,
            actor_role=role,
            note="first answer" if first else None,
            created_at=now,
        ),
    )
    await _updated(session, ticket_id, change="answered" if first else "replied", actor=user.sub, role=role, now=now)
    return await _read(session, ticket_id)


async def change_ticket(
    session: AsyncSession, *, ticket_id: int, user: Principal, data: TicketChange, now: datetime
) -> TicketRead:
    """Support takes, hands on, resolves or closes a ticket; its opener may close it."""
    ticket = await readable_ticket(session, ticket_id, user)
    assigning = "assignee_id" in data.model_fields_set
    if not assigning and data.status is None:
        raise EmptyTicketChange()
    if data.status not in (None, TicketStatus.RESOLVED, TicketStatus.CLOSED):
        raise TicketStatusNotSettable(f"A ticket cannot be set to {data.status}")
    role = _role(ticket, user)
    handler = user.can(Permission.TICKETS_HANDLE)
    if (assigning or data.status == TicketStatus.RESOLVED) and not handler:
        raise NotTicketHandler("Only support staff take, hand on or resolve tickets; the opener may close theirs")
    if role != TicketRole.STAFF and handler and (assigning or data.status == TicketStatus.RESOLVED):
        role = TicketRole.STAFF  # support staff acting on a ticket they opened themselves
    if ticket.status == TicketStatus.CLOSED:
        raise TicketClosed(f"Ticket {ticket_id} is closed")
    to_status = data.status or ticket.status
    if to_status == TicketStatus.RESOLVED and ticket.status not in (TicketStatus.OPEN, TicketStatus.ANSWERED):
        raise InvalidTicketStatus(f"Ticket {ticket_id} is {ticket.status}; it cannot be resolved")
    values: dict[str, object] = {"status": to_status, "updated_at": now}
    if assigning:
        values["assignee_id"] = data.assignee_id
    if to_status != ticket.status:
        values["resolved_at" if to_status == TicketStatus.RESOLVED else "closed_at"] = now
    if not await repository.change(session, ticket_id=ticket_id, expected=ticket.status, values=values):
        raise TicketChanged(f"Ticket {ticket_id} changed meanwhile")
    if assigning:
        await repository.add(
            session,
            TicketHistory(
                ticket_id=ticket_id,
                action=TicketAction.ASSIGNED,
                from_status=ticket.status,
                to_status=ticket.status,
                actor=user.sub,
                actor_role=role,
                assignee_id=data.assignee_id,
                note=data.note,
                created_at=now,
            ),
        )
        await _updated(session, ticket_id, change="assigned", actor=user.sub, role=role, now=now)
    if to_status != ticket.status:
        await repository.add(
            session,
            TicketHistory(
                ticket_id=ticket_id,
                action=TicketAction.STATUS,
                from_status=ticket.status,
                to_status=to_status,
                actor=user.sub,
                actor_role=role,
                note=data.note,
                created_at=now,
            ),
        )
        await _updated(session, ticket_id, change="status", actor=user.sub, role=role, now=now)
    return await _read(session, ticket_id)


async def get_ticket(session: AsyncSession, *, ticket_id: int, user: Principal) -> TicketRead:
    await readable_ticket(session, ticket_id, user)
    return await _read(session, ticket_id)


async def list_tickets(
    session: AsyncSession, *, user: Principal, query: TicketQuery, tz: ZoneInfo
) -> Page[TicketSummary]:
    """Support sees every ticket; customers and leaders their own."""
    page = query.page_params()
    start, end = query.window(tz)
    rows = await repository.list_tickets(
        session,
        limit=page.limit + 1,
        after_id=page.after_int(),
        opened_by=None if user.can(Permission.TICKETS_HANDLE) else user.sub,
        leader_id=query.leader_id,
        assignee_id=query.assignee_id,
        status=query.status,
        kind=query.kind,
        start=start,
        end=end,
    )
    return page.page(rows, key=lambda t: [t.id], convert=_summary)
