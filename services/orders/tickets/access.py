"""Who may read a ticket: the one who opened it and support staff (`tickets.handle`). Anyone else is told it does not
exist, so ids cannot be probed."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.permissions import Permission
from services.orders.tickets import repository
from services.orders.tickets.exceptions import TicketNotFound
from services.orders.tickets.models import Ticket


async def readable_ticket(session: AsyncSession, ticket_id: int, user: Principal) -> Ticket:
    ticket = await repository.get_ticket(session, ticket_id)
    if ticket is None or not (user.can(Permission.TICKETS_HANDLE) or ticket.opened_by == user.sub):
        raise TicketNotFound(f"Ticket {ticket_id} does not exist")
    return ticket
