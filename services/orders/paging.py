"""Query parameters of the orders service's newer lists, declared as models that refuse unknown names (a misspelt
filter is a 422, never silently ignored): `query: Annotated[AfterSaleQuery, Query()]`.

`limit` and `cursor` mean what `services.common.pagination` says; `from` and `to` are local dates of the business time
zone, both inclusive.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageParams, decode_cursor


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page")
    cursor: str | None = Field(default=None, max_length=512, description="`next_cursor` of the previous page")

    def page_params(self) -> PageParams:
        return PageParams(limit=self.limit, after=decode_cursor(self.cursor) if self.cursor else None)


class DatedListQuery(ListQuery):
    date_from: date | None = Field(default=None, alias="from", description="First local date (inclusive)")
    date_to: date | None = Field(default=None, alias="to", description="Last local date (inclusive)")

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
