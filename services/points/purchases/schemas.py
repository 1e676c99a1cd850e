from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.common.types import Id
from services.points.holds.models import HoldStatus


class ReconciliationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_ids: Annotated[list[Id], Field(min_length=1, max_length=500)]


class OrderReconciliation(BaseModel):
    purchase_credits: int = Field(description="Purchase point credits applied for the order (0 or 1)")
    purchase_reversals: dict[str, int] = Field(description="Purchase point reversals applied, by refund id")
    hold: HoldStatus | None


class ReconciliationRead(BaseModel):
    orders: dict[str, OrderReconciliation]
