from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.common.app import NowDep
from services.common.auth import InvalidToken, MissingRole, Principal, Role, require_roles, signed_in
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.pagination import InvalidCursor, Page
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.deps import SettingsDep
from services.orders.orders.exceptions import OrderNotFound
from services.orders.tickets import service
from services.orders.tickets.exceptions import (
    EmptyTicketChange,
    InvalidTicketStatus,
    NotTicketHandler,
    TicketChanged,
    TicketClosed,
    TicketNotFound,
    TicketStatusNotSettable,
)
from services.orders.tickets.schemas import (
    ReplyCreate,
    TicketChange,
    TicketCreate,
    TicketQuery,
    TicketRead,
    TicketSummary,
)

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])
#: Whoever opened the ticket, or support handling tickets.
TicketUser = Annotated[Principal, Depends(signed_in(Permission.TICKETS_HANDLE))]

TicketId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Ticket id")]
CustomerOrLeader = Annotated[Principal, Depends(require_roles(Role.CUSTOMER, Role.LEADER))]


@router.post(
    "",
    status_code=201,
    response_model=TicketRead,
    summary="Open a complaint or a suggestion (customer, leader)",
    responses=problem_docs(InvalidToken, MissingRole, OrderNotFound),
)
async def open_ticket(body: TicketCreate, session: SessionDep, user: CustomerOrLeader, now: NowDep) -> TicketRead:
    """`order_id`, if given, must be an order the caller may read (their own, or one at their pickup point)."""
    return await service.open_ticket(session, user=user, data=body, now=now)


@router.get(
    "",
    response_model=Page[TicketSummary],
    summary="List tickets, newest first",
    responses=problem_docs(InvalidToken, InvalidCursor),
)
async def list_tickets(
    query: Annotated[TicketQuery, Query()], session: SessionDep, user: TicketUser, settings: SettingsDep
) -> Page[TicketSummary]:
    """Customers and leaders see the tickets they opened; support (`tickets.handle`) sees all. `from` and `to` are
    local dates of opening (inclusive)."""
    return await service.list_tickets(session, user=user, query=query, tz=settings.tz)


@router.get(
    "/{ticket_id}",
    response_model=TicketRead,
    summary="Read a ticket with its replies and history",
    responses=problem_docs(InvalidToken, TicketNotFound),
)
async def get_ticket(ticket_id: TicketId, session: SessionDep, user: TicketUser) -> TicketRead:
    """`first_answer_seconds`: how long the first answer by support took."""
    return await service.get_ticket(session, ticket_id=ticket_id, user=user)


@router.patch(
    "/{ticket_id}",
    response_model=TicketRead,
    summary="Take, hand on, resolve or close a ticket (support; the opener may close it)",
    responses=problem_docs(
        InvalidToken,
        TicketNotFound,
        NotTicketHandler,
        TicketClosed,
        InvalidTicketStatus,
        TicketChanged,
        EmptyTicketChange,
        TicketStatusNotSettable,
    ),
)
async def change_ticket(
    ticket_id: TicketId, body: TicketChange, session: SessionDep, user: TicketUser, now: NowDep
) -> TicketRead:
    return await service.change_ticket(session, ticket_id=ticket_id, user=user, data=body, now=now)


@router.post(
    "/{ticket_id}/replies",
    status_code=201,
    response_model=TicketRead,
    summary="Reply to a ticket (support, the opener)",
    responses=problem_docs(InvalidToken, TicketNotFound, TicketClosed, TicketChanged),
)
async def reply_to_ticket(
    ticket_id: TicketId, body: ReplyCreate, session: SessionDep, user: TicketUser, now: NowDep
) -> TicketRead:
    """A support reply answers the ticket (the first sets `first_answered_at`); the opener's reopens it."""
    return await service.reply(session, ticket_id=ticket_id, user=user, data=body, now=now)
