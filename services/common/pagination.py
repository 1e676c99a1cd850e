"""Cursor pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out.

Cursors are opaque to callers (url-safe base64 of a small JSON list: the sort key of the last item returned), so
pages stay stable while rows are inserted, and the query is a keyset seek that an index serves.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel

from services.common.errors import InvalidInput

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursor(InvalidInput):
    code = "INVALID_CURSOR"
    title = "The cursor is not one we issued"


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(value, list):
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

    def page(self, rows: Sequence[R], key: Callable[[R], list[Any]], convert: Callable[[R], T]) -> Page[T]:
        """Build a page from up to `limit + 1` rows fetched (the extra one only says "there is more").

        `key(row)` gives the cursor of a row, `convert(row)` the public item.
        """
        has_more = len(rows) > self.limit
        items = rows[: self.limit]
        next_cursor = encode_cursor(key(items[-1])) if has_more and items else None
        return Page[T](items=[convert(r) for r in items], next_cursor=next_cursor)


def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(_page_params)]
