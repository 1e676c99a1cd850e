from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from services.common.exports import ExportFormat


class ProcurementQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: ExportFormat = Field(default=ExportFormat.JSON, description="`csv`: for Excel (UTF-8 with BOM)")


class ProcurementLine(BaseModel):
    product_id: int
    product_name: str
    sku_id: int | None
    sku_name: str | None
    unit: str | None
    quantity: int = Field(description="Units to buy and pack: ordered, net of refunds")
    paid_fen: int = Field(description="What customers paid for them, net of refunds")
    cost_fen: int | None = Field(description="Their cost at the cost prices snapshotted on the lines; null if unknown")


class ProcurementTotals(BaseModel):
    """采购汇总: what the warehouse buys for one pickup date, across all leaders."""

    pickup_date: date
    orders: int
    lines: list[ProcurementLine]


class PickList(BaseModel):
    leader_id: str
    pickup_point: str | None
    orders: int
    lines: list[ProcurementLine]


class PickLists(BaseModel):
    """What to pack for each leader's pickup point on one pickup date."""

    pickup_date: date
    pick_lists: list[PickList]
