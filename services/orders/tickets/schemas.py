from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.pagination import DatedListQuery
from services.common.text import Line, Text, WebUrl
from services.common.types import Id, UserId
from services.orders.tickets.models import TicketAction, TicketKind, TicketRole, TicketStatus

#: A note on a change of the ticket.
Reason = Annotated[Line, StringConstraints(min_length=1, max_length=200)]
#: The text of a ticket or a reply.
Message = Annotated[Text, StringConstraints(min_length=1, max_length=2000)]


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TicketKind
    text: Message
    order_id: Id | None = None
    images: list[WebUrl] = Field(default_factory=list, max_length=9)


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Message
    images: list[WebUrl] = Field(default_factory=list, max_length=9)


class TicketChange(BaseModel):
    """`status`: support resolves or closes, the opener closes. `assignee_id`: support takes the ticket (their own
    id), hands it to a colleague, or `null` to put it back in the queue."""

    model_config = ConfigDict(extra="forbid")

    status: TicketStatus | None = Field(default=None, description="`resolved` or `closed`")
    assignee_id: UserId | None = None
    note: Reason | None = None


class TicketQuery(DatedListQuery):
    status: TicketStatus | None = None
    kind: TicketKind | None = None
    leader_id: UserId | None = Field(default=None, description="Support: the tickets concerning one pickup point")
    assignee_id: UserId | None = Field(default=None, description="Support: the tickets one colleague has taken")


class TicketReplyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    author: str
    author_role: TicketRole
    text: str
    images: list[str]
    created_at: datetime


class TicketHistoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: TicketAction
    from_status: TicketStatus | None
    to_status: TicketStatus
    actor: str
    actor_role: TicketRole
    assignee_id: str | None
    note: str | None
    created_at: datetime


class TicketSummary(BaseModel):
    id: int
    kind: TicketKind
    status: TicketStatus
    opened_by: str
    opener_role: TicketRole
    order_id: int | None
    leader_id: str | None
    text: str
    images: list[str]
    assignee_id: str | None
    created_at: datetime
    updated_at: datetime
    first_answered_at: datetime | None
    first_answer_seconds: int | None = Field(description="From opening to the first answer by support")
    resolved_at: datetime | None
    closed_at: datetime | None


class TicketRead(TicketSummary):
    replies: list[TicketReplyRead]
    history: list[TicketHistoryRead]
