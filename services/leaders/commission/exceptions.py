from __future__ import annotations

from services.common.errors import Conflict, InvalidInput, NotFound


class CommissionAccountNotFound(NotFound):
    code = "COMMISSION_ACCOUNT_NOT_FOUND"
    title = "This leader has no commission account"


class AccrualNotYetRecorded(Conflict):
    """Raised to an event handler so the event is retried: the bus delivered a later event of an order before its
    `order.paid` (only a misbehaving bus does that)."""

    code = "ACCRUAL_NOT_YET_RECORDED"
    title = "The order's commission has not been accrued yet"


class InvalidPeriod(InvalidInput):
    code = "INVALID_PERIOD"
    title = "A statement period is a month written YYYY-MM"
