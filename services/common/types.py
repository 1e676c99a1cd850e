"""Strict integer types for money, rates and points.

Pydantic's strict mode refuses `"100"`, `true` and `1.5`; the bounds refuse negatives where they make no sense and
anything beyond a signed 64-bit integer (what PostgreSQL's BIGINT holds). No float ever touches money.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

#: Money in fen (分), never negative in requests.
Fen = Annotated[int, Field(strict=True, ge=0, le=INT64_MAX, json_schema_extra={"format": "int64"})]
#: Money in fen that may be negative (a balance that is owed, a reversal).
SignedFen = Annotated[int, Field(strict=True, ge=INT64_MIN, le=INT64_MAX, json_schema_extra={"format": "int64"})]
#: A rate in basis points: 1000 bp = 10 %.
BasisPoints = Annotated[int, Field(strict=True, ge=0, le=10_000)]
#: Points, never negative in requests.
Points = Annotated[int, Field(strict=True, ge=0, le=INT64_MAX, json_schema_extra={"format": "int64"})]
#: Points that may be negative (adjustments, balances that are owed).
SignedPoints = Annotated[int, Field(strict=True, ge=INT64_MIN, le=INT64_MAX, json_schema_extra={"format": "int64"})]
#: A count of goods.
Quantity = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]
PositiveQuantity = Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)]
#: Ids of rows we own are positive 64-bit integers.
Id = Annotated[int, Field(strict=True, ge=1, le=INT64_MAX)]
#: Ids of users come from the identity provider (the JWT `sub`).
UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone offset")
    return value


def _reject_numbers(value: object) -> object:
    # Lax pydantic reads 0 or true as a Unix time; our timestamps are RFC 3339 strings with an offset, nothing else.
    if isinstance(value, int | float):
        raise ValueError("timestamp must be an RFC 3339 string with a time zone offset")
    return value


AwareDatetime = Annotated[datetime, BeforeValidator(_reject_numbers), AfterValidator(_require_aware)]
