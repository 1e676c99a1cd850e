from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.pagination import ListQuery
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
    pickup_date: date
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
    pickup_date: date
    status: DeliveryBatchStatus
    order_count: int
    created_at: datetime
    received_at: datetime | None


class CutoffResult(BaseModel):
    cutoff_date: date
    cutoff_at: datetime | None = Field(
        description="Orders paid before this instant were batched; null for a cut-off of a chosen pickup date"
    )
    pickup_date: date
    batches: list[DeliveryBatchSummary] = Field(
        description="From the automatic cut-off: the batches it made or added to. From the endpoint: every batch "
        "of the pickup date, including those of earlier runs"
    )


class CutoffRequest(BaseModel):
    """Without `pickup_date`: the latest daily cut-off, as the periodic job runs it. With it: every paid order to be
    picked up by that date is batched now, whenever it was paid."""

    model_config = ConfigDict(extra="forbid")

    pickup_date: date | None = None


class BatchFilters(ListQuery):
    leader_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="A leader's batches: the leader themselves, or staff"
    )
    status: DeliveryBatchStatus | None = None
    pickup_date: date | None = None
