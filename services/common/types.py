"""Strict integer types for money, rates and points.

Pydantic's strict mode refuses `"100"`, `true` and `1.5`; the bounds refuse negatives where they make no sense and
amounts no shop ever sees. The bounds leave room for the sums: an order line (price times quantity), an order's
200 lines, a balance of many entries all stay far inside a signed 64-bit integer (what PostgreSQL's BIGINT holds),
so no sum of accepted values overflows a column (a 500). No float ever touches money.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from services.common.text import Line

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
#: The largest amount of money a request may name: 10^12 fen, ten billion yuan.
MAX_FEN = 10**12
#: The largest number of points a request may name.
MAX_POINTS = 10**12
#: The most units one line of an order or a request may hold: 200 lines at the largest price stay below 2^63.
MAX_UNITS = 10_000

#: Money in fen (分), never negative in requests.
Fen = Annotated[int, Field(strict=True, ge=0, le=MAX_FEN, json_schema_extra={"format": "int64"})]
#: Money in fen that may be negative (a balance that is owed, a reversal).
SignedFen = Annotated[int, Field(strict=True, ge=-MAX_FEN, le=MAX_FEN, json_schema_extra={"format": "int64"})]
#: A rate in basis points: 1000 bp = 10 %.
BasisPoints = Annotated[int, Field(strict=True, ge=0, le=10_000)]
#: Points, never negative in requests.
Points = Annotated[int, Field(strict=True, ge=0, le=MAX_POINTS, json_schema_extra={"format": "int64"})]
#: Points that may be negative (adjustments, balances that are owed).
SignedPoints = Annotated[int, Field(strict=True, ge=-MAX_POINTS, le=MAX_POINTS, json_schema_extra={"format": "int64"})]
#: A stock of goods.
Quantity = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]
PositiveStock = Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)]
#: The units of one line (an order's, a flash purchase's, an after-sale request's, a shortage's) or a limit on them.
PositiveQuantity = Annotated[int, Field(strict=True, ge=1, le=MAX_UNITS)]
#: Ids of rows we own are positive 64-bit integers.
Id = Annotated[int, Field(strict=True, ge=1, le=INT64_MAX)]
#: Ids of users come from the identity provider (the JWT `sub`): one line, no control characters.
UserId = Annotated[Line, StringConstraints(min_length=1, max_length=64)]


#: The dates a request may name: wide enough for birthdays and plans, narrow enough that moving between time zones
#: or to the next day never leaves what Python and the databases represent (year 1 east of UTC, or the day after
#: 9999-12-31, is an OverflowError: a 500).
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2999, 12, 31)


def _day_in_range(value: date) -> date:
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(f"date must be between {MIN_DATE} and {MAX_DATE}")
    return value


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone offset")
    _day_in_range(value.date())
    return value


def _reject_numbers(value: object) -> object:
    # Lax pydantic reads 0 or true as a Unix time; our timestamps are RFC 3339 strings with an offset, nothing else.
    if isinstance(value, int | float):
        raise ValueError("timestamp must be an RFC 3339 string with a time zone offset")
    return value


#: An instant: an RFC 3339 string with an offset, between MIN_DATE and MAX_DATE.
AwareDatetime = Annotated[datetime, BeforeValidator(_reject_numbers), AfterValidator(_require_aware)]
#: A calendar date (YYYY-MM-DD) between MIN_DATE and MAX_DATE.
Day = Annotated[date, AfterValidator(_day_in_range)]
