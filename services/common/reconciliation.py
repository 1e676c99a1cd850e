"""The question reconciliation asks the consumers' books (leaders, points) about the receiving side.

`POST /internal/reconciliation/{commission,points}/orders` answers which orders the consumer recorded an effect for
in `[since, until)`, whatever the orders service says about them, so that an effect with no source (a forged
event's commission) is found. The range is bounded and the answer paged by order id, so one question never scans
or returns a consumer's whole history; the orders service walks longer ranges window by window.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.types import AwareDatetime, Id

#: The longest range one question may cover.
MAX_RANGE = timedelta(days=31)
#: The most order ids one answer holds.
MAX_PAGE = 5000


class OrdersWithEffectsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime = Field(description="Effects recorded at or after this instant")
    until: AwareDatetime = Field(description="... and before this one; at most 31 days after `since`")
    after: Id | None = Field(default=None, description="Only order ids above this one (the previous `next_after`)")
    limit: Annotated[int, Field(strict=True, ge=1, le=MAX_PAGE)] = MAX_PAGE

    @model_validator(mode="after")
    def _bounded(self) -> OrdersWithEffectsRequest:
        if self.until <= self.since:
            raise ValueError("`until` must be after `since`")
        if self.until - self.since > MAX_RANGE:
            raise ValueError(f"the range may cover at most {MAX_RANGE.days} days")
        return self


class OrdersWithEffects(BaseModel):
    order_ids: list[int] = Field(description="Distinct order ids, ascending")
    next_after: int | None = Field(description="Ask again with `after` set to this for the next page; null: done")

    @classmethod
    def page(cls, order_ids: list[int], *, limit: int) -> OrdersWithEffects:
        return cls(order_ids=order_ids, next_after=order_ids[-1] if len(order_ids) == limit else None)
