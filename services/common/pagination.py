"""Cursor pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ..., "total": ...}` out.

Every list endpoint declares its query parameters as one model derived from `ListQuery`
(`filters: Annotated[MyFilters, Query()]`): the model forbids unknown parameters, so a misspelt or unsupported
filter (`?created_from=...` where there is none) is a 422 naming it, never a silently unfiltered list.

Cursors are opaque to callers (url-safe base64 of a small JSON list: the sort key of the last item returned), so
pages stay stable while rows are inserted, and the query is a keyset seek that an index serves.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Generic, Self, TypeVar
from zoneinfo import ZoneInfo

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.common.errors import InvalidInput
from services.common.text import SINGLE_LINE_PATTERN
from services.common.types import INT64_MAX, INT64_MIN, Day

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursor(InvalidInput):
    code = "INVALID_CURSOR"
    title = "The cursor is not one we issued"


TOTAL_DESCRIPTION = (
    "How many items match the filters in all pages, where counting them is cheap; null where it would mean "
    "scanning a table that grows without bound (the operation's description says so)"
)


#: What a cursor may be made of, as a pattern: url-safe base64 without padding.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
#: `?cursor=`: what a list answered as `next_cursor`, passed back as it was.
Cursor = Annotated[str, StringConstraints(max_length=512, pattern=CURSOR_PATTERN)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
    total: int | None = Field(default=None, description=TOTAL_DESCRIPTION)


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


#: The most values a cursor holds (the longest sort key of any list).
_MAX_KEY_PARTS = 4
_MAX_KEY_TEXT = 200


def _fits(part: object) -> bool:
    """A part of a sort key we could have issued: an integer a BIGINT column holds (a larger one would be a 500 on
    PostgreSQL), or a short line of text (NUL would be one too)."""
    if isinstance(part, bool):
        return False
    if isinstance(part, int):
        return INT64_MIN <= part <= INT64_MAX
    if isinstance(part, str):
        return len(part) <= _MAX_KEY_TEXT and re.fullmatch(SINGLE_LINE_PATTERN, part) is not None
    return False


def decode_cursor(cursor: str) -> list[Any]:
    """The sort key a cursor holds. A cursor we did not issue (garbage, a hand-made key with a huge integer,
    text with NUL) is a 422 `INVALID_CURSOR`, never a query that fails in the database."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(value, list) or not 1 <= len(value) <= _MAX_KEY_PARTS or not all(map(_fits, value)):
        raise InvalidCursor()
    return value


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    after: list[Any] | None

    def after_int(self) -> int | None:
        """The common case: the cursor is the last id (descending or ascending lists by id)."""
        if self.after is None:
            return None
        if len(self.after) != 1 or not isinstance(self.after[0], int) or isinstance(self.after[0], bool):
            raise InvalidCursor()
        return self.after[0]

    def page(
        self,
        rows: Sequence[R],
        key: Callable[[R], list[Any]],
        convert: Callable[[R], T],
        *,
        total: int | None = None,
    ) -> Page[T]:
        """Build a page from up to `limit + 1` rows fetched (the extra one only says "there is more").

        `key(row)` gives the cursor of a row, `convert(row)` the public item.
        """
        has_more = len(rows) > self.limit
        items = rows[: self.limit]
        next_cursor = encode_cursor(key(items[-1])) if has_more and items else None
        return Page[T](items=[convert(r) for r in items], next_cursor=next_cursor, total=total)


class ListQuery(BaseModel):
    """The query parameters of a list endpoint: subclass it with the list's filters and declare it as
    `Annotated[MyFilters, Query()]`. Unknown parameters are refused (422 `extra_forbidden`, naming the parameter)."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page")
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the previous page")

    def page_params(self) -> PageParams:
        return PageParams(limit=self.limit, after=decode_cursor(self.cursor) if self.cursor else None)


class DatedListQuery(ListQuery):
    """A list filtered by a range of local dates of the business time zone, `from` and `to` both inclusive."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    date_from: Day | None = Field(default=None, alias="from", description="First local date (inclusive)")
    date_to: Day | None = Field(default=None, alias="to", description="Last local date (inclusive)")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.date_from is not None and self.date_to is not None and self.date_from > self.date_to:
            raise ValueError("'from' must not be after 'to'")
        return self

    def window(self, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """The dates as a half-open range of instants: [start of `from`, start of the day after `to`)."""
        start = datetime.combine(self.date_from, time(0), tzinfo=tz) if self.date_from is not None else None
        end = None
        if self.date_to is not None:
            end = datetime.combine(self.date_to + timedelta(days=1), time(0), tzinfo=tz)
        return start, end


def _strict_page_params(query: Annotated[ListQuery, Query()]) -> PageParams:
    return query.page_params()


#: A list whose only parameters are `limit` and `cursor`: unknown parameters are refused.
PageQuery = Annotated[PageParams, Depends(_strict_page_params)]


class NoQuery(BaseModel):
    """The parameters of a list that takes none (a whole small list): any parameter is refused."""

    model_config = ConfigDict(extra="forbid")


#: `_: NoParams` on a list endpoint without parameters.
NoParams = Annotated[NoQuery, Query()]
