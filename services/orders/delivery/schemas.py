from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from services.orders.delivery.models import DeliveryBatchStatus


class PickListItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: int
    product_name: str
    quantity: int


class DeliveryBatchRead(BaseModel):
    id: int
    leader_id: str
    cutoff_date: date
    status: DeliveryBatchStatus
    order_count: int
    order_ids: list[int]
    pick_list: list[PickListItem]
    created_at: datetime
    received_at: datetime | None
    received_by: str | None


class DeliveryBatchSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    leader_id: str
    cutoff_date: date
    status: DeliveryBatchStatus
    order_count: int
    created_at: datetime
    received_at: datetime | None


class CutoffResult(BaseModel):
    cutoff_date: date
    cutoff_at: datetime
    batches: list[DeliveryBatchSummary]
