from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.common.types import Fen, Id, UserId
from services.points.holds.models import HoldStatus

PositivePoints = Annotated[int, Field(strict=True, ge=1, le=2**62, json_schema_extra={"format": "int64"})]


class HoldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: Id
    user_id: UserId
    points: PositivePoints
    goods_fen: Fen


class HoldRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    order_id: int
    user_id: str
    points: int
    discount_fen: int = Field(description="What the points are worth, under the rules in force when held")
    status: HoldStatus
    expires_at: datetime = Field(description="Released automatically if not committed by then")


class HoldList(BaseModel):
    items: list[HoldRead]
