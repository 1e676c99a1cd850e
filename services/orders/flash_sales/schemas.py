from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.types import AwareDatetime, Fen, Id, PositiveQuantity, PositiveStock, UserId

PerUserLimit = Annotated[int, Field(strict=True, ge=1, le=10_000)]


class FlashSaleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id
    price_fen: Fen
    stock: PositiveStock
    per_user_limit: PerUserLimit
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _window_not_empty(self) -> FlashSaleCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class FlashSaleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    product_id: int
    product_name: str
    price_fen: int
    stock: int
    remaining: int
    per_user_limit: int
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    closed_at: datetime | None = Field(
        description="When the ended sale's unsold units went back to the product (a few minutes after its end)"
    )
    returned_to_product: int = Field(
        description="Units given back to the product: unsold at closing, or cancelled since"
    )


class FlashOrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leader_id: UserId
    quantity: PositiveQuantity = 1


class StockView(BaseModel):
    remaining: int
    buyers: int
    units_held_by_buyers: int
    live_reservations: int


class RedisStockView(StockView):
    reserved_total: int
    released_total: int


class ReconciliationReport(BaseModel):
    sale_id: int
    stock: int
    sold_units: int = Field(description="Units on orders of the sale that were not cancelled")
    database: StockView
    redis: RedisStockView | None = Field(description="Null when Redis is not used (or the sale was never loaded)")
    differences: list[str]
    consistent: bool
