"""Time in one place: UTC timestamps for storage, local dates in the business time zone for business rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

#: What a service reads the time from: `app.state.clock` (default `utcnow`), so tests can move time across business
#: days, month ends, freezes and expiries without patching modules. Request handlers take it as `NowDep`
#: (`services.common.app`), jobs call `app.state.clock()`, service functions receive `now` as an argument.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC, so make that explicit again."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return as_utc(moment).astimezone(tz).date()
