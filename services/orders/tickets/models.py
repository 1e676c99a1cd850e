"""Tickets: complaints and suggestions from customers and leaders (the feedback channel, 反馈机制), answered by
support. Replies and every change of status or assignee are kept with who and when; nothing is edited."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Index
from sqlmodel import Field

from services.common.db import id_field, ref_field, timestamp_field
from services.common.sql import enum_field
from services.orders.db import OrdersBase


class TicketKind(StrEnum):
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"


class TicketStatus(StrEnum):
    """open → answered (support replied) → open again when the opener replies; open | answered → resolved (support);
    resolved → open when the opener replies; anything → closed (support or the opener), which is final."""

    OPEN = "open"
    ANSWERED = "answered"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketRole(StrEnum):
    """In which capacity someone wrote or acted on a ticket."""

    CUSTOMER = "customer"
    LEADER = "leader"
    STAFF = "staff"


class TicketAction(StrEnum):
    OPENED = "opened"
    REPLIED = "replied"
    ASSIGNED = "assigned"
    STATUS = "status"


class Ticket(OrdersBase, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_opened_by_id", "opened_by", "id"),
        Index("ix_tickets_leader_id_id", "leader_id", "id"),
        Index("ix_tickets_status_id", "status", "id"),
    )

    id: int | None = id_field()
    kind: TicketKind = enum_field(TicketKind, max_length=16)
    status: TicketStatus = enum_field(TicketStatus, max_length=16)
    opened_by: str = Field(max_length=64)
    opener_role: TicketRole = enum_field(TicketRole, max_length=16)
    order_id: int | None = ref_field("orders.id", nullable=True)
    #: The pickup point concerned: the order's, or the leader's own when a leader opened it without an order.
    leader_id: str | None = Field(default=None, max_length=64)
    text: str = Field(max_length=2000)
    images: list[str] = Field(default_factory=list, sa_type=JSON)
    assignee_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
    first_answered_at: datetime | None = timestamp_field(nullable=True)
    resolved_at: datetime | None = timestamp_field(nullable=True)
    closed_at: datetime | None = timestamp_field(nullable=True)


class TicketReply(OrdersBase, table=True):
    __tablename__ = "ticket_replies"

    id: int | None = id_field()
    ticket_id: int = ref_field("tickets.id", index=True)
    author: str = Field(max_length=64)
    author_role: TicketRole = enum_field(TicketRole, max_length=16)
    text: str = Field(max_length=2000)
    images: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = timestamp_field()


class TicketHistory(OrdersBase, table=True):
    """Every step of a ticket: who, when, from which status to which, to whom it was assigned."""

    __tablename__ = "ticket_history"

    id: int | None = id_field()
    ticket_id: int = ref_field("tickets.id", index=True)
    action: TicketAction = enum_field(TicketAction, max_length=16)
    from_status: TicketStatus | None = enum_field(TicketStatus, max_length=16, default=None)
    to_status: TicketStatus = enum_field(TicketStatus, max_length=16)
    actor: str = Field(max_length=64)
    actor_role: TicketRole = enum_field(TicketRole, max_length=16)
    assignee_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=200)
    created_at: datetime = timestamp_field()
