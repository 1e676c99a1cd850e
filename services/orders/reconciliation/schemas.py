from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.types import AwareDatetime


class OrderEffectsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    since: AwareDatetime = Field(alias="from", description="Orders paid (or cancelled) at or after this instant")
    until: AwareDatetime = Field(alias="to", description="... and before this instant")

    @model_validator(mode="after")
    def _ordered(self) -> OrderEffectsRequest:
        if self.until <= self.since:
            raise ValueError("`to` must be after `from`")
        return self


class ReconciledService(StrEnum):
    """A consumer of the orders service's events whose effects are reconciled."""

    LEADERS = "leaders"
    POINTS = "points"


class DifferenceKind(StrEnum):
    LOST = "lost"  # never applied
    DUPLICATED = "duplicated"  # applied more than once
    MISMATCH = "mismatch"  # applied, but in another state than expected
    IN_FLIGHT = "in_flight"  # its event is still in the outbox: not a loss yet
    ORPHANED = "orphaned"  # applied, but its order does not exist or is not in a state that justifies it


class Difference(BaseModel):
    order_id: int
    service: ReconciledService
    effect: str = Field(description="accrual, reversal, purchase_points, purchase_reversal or hold")
    ref: str = Field(description="What the effect belongs to: a line id, refund:line, a refund id or the order")
    expected: str
    found: str
    kind: DifferenceKind


class OrderEffectsReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    since: AwareDatetime = Field(serialization_alias="from")
    until: AwareDatetime = Field(serialization_alias="to")
    orders_checked: int
    effects_checked: int
    lost: int = Field(description="Effects the consumers never applied (events still in flight are not counted)")
    duplicated: int = Field(description="Effects applied more than once")
    mismatched: int = Field(description="Effects in a state other than expected (e.g. a hold not committed)")
    in_flight: int = Field(description="Effects whose events are still waiting in the outbox")
    orphaned: int = Field(
        default=0,
        description="Effects the consumers hold for an order that does not exist or does not justify them (a "
        "commission accrual for an unpaid order, purchase points before pickup); found by walking the consumers' "
        "books (the orders they credited in the range), so even an effect no order points at is found",
    )
    differences: list[Difference]
