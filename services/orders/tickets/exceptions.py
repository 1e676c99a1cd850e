from __future__ import annotations

from services.common.errors import Conflict, Forbidden, InvalidInput, NotFound


class TicketNotFound(NotFound):
    code = "TICKET_NOT_FOUND"
    title = "No such ticket"


class TicketClosed(Conflict):
    code = "TICKET_CLOSED"
    title = "The ticket is closed"


class TicketChanged(Conflict):
    code = "TICKET_CHANGED"
    title = "Somebody else changed the ticket first; read it again"


class InvalidTicketStatus(Conflict):
    code = "INVALID_TICKET_STATUS"
    title = "The ticket cannot move to that status from the one it is in"


class NotTicketHandler(Forbidden):
    code = "NOT_TICKET_HANDLER"
    title = "Only support staff may do this to a ticket"


class EmptyTicketChange(InvalidInput):
    code = "EMPTY_TICKET_CHANGE"
    title = "Name a status or an assignee to change"


class TicketStatusNotSettable(InvalidInput):
    code = "TICKET_STATUS_NOT_SETTABLE"
    title = "A ticket is set to resolved or closed; replies move it between open and answered"
