"""All SQL about tickets, their replies and their history. Every status change names the status it expects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.tickets.models import Ticket, TicketHistory, TicketKind, TicketReply, TicketStatus


async def insert_ticket(session: AsyncSession, ticket: Ticket) -> int:
    session.add(ticket)
    await session.flush()
    assert ticket.id is not None
    return ticket.id


async def add(session: AsyncSession, row: TicketReply | TicketHistory) -> None:
    session.add(row)
    await session.flush()


async def get_ticket(session: AsyncSession, ticket_id: int) -> Ticket | None:
    query = select(Ticket).where(Ticket.id == ticket_id).execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def change(session: AsyncSession, *, ticket_id: int, expected: TicketStatus, values: dict[str, Any]) -> bool:
    """Change a ticket only if it is still in the expected status; False means somebody else changed it first."""
    result = await session.exec(
        update(Ticket)
        .where(col(Ticket.id) == ticket_id, col(Ticket.status) == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def mark_first_answer(session: AsyncSession, *, ticket_id: int, now: datetime) -> bool:
    """Set the first answer's time once: the reply that finds it empty is the first."""
    result = await session.exec(
        update(Ticket)
        .where(col(Ticket.id) == ticket_id, col(Ticket.first_answered_at).is_(None))
        .values(first_answered_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def replies_of(session: AsyncSession, ticket_id: int) -> Sequence[TicketReply]:
    query = select(TicketReply).where(TicketReply.ticket_id == ticket_id).order_by(col(TicketReply.id))
    return (await session.exec(query)).all()


async def history_of(session: AsyncSession, ticket_id: int) -> Sequence[TicketHistory]:
    query = select(TicketHistory).where(TicketHistory.ticket_id == ticket_id).order_by(col(TicketHistory.id))
    return (await session.exec(query)).all()


async def list_tickets(
    session: AsyncSession,
    *,
    limit: int,
    after_id: int | None,
    opened_by: str | None,
    leader_id: str | None,
    assignee_id: str | None,
    status: TicketStatus | None,
    kind: TicketKind | None,
    start: datetime | None,
    end: datetime | None,
) -> Sequence[Ticket]:
    query = select(Ticket).order_by(col(Ticket.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(Ticket.id) < after_id)
    if opened_by is not None:
        query = query.where(Ticket.opened_by == opened_by)
    if leader_id is not None:
        query = query.where(Ticket.leader_id == leader_id)
    if assignee_id is not None:
        query = query.where(Ticket.assignee_id == assignee_id)
    if status is not None:
        query = query.where(Ticket.status == status)
    if kind is not None:
        query = query.where(Ticket.kind == kind)
    if start is not None:
        query = query.where(col(Ticket.created_at) >= start)
    if end is not None:
        query = query.where(col(Ticket.created_at) < end)
    return (await session.exec(query)).all()
