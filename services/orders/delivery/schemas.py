from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.pagination import ListQuery
from services.common.text import Line
from services.common.types import Day, Id, PositiveQuantity, UserId
from services.orders.delivery.models import DeliveryBatchStatus, ShortageKind


class PickListItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: int
    product_name: str
    quantity: int


class ShortageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: int
    product_name: str
    kind: ShortageKind
    quantity: int
    refunded_quantity: int = Field(description="Units refunded automatically; the rest are held by after-sale requests")
    refund_fen: int


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
    shortages: list[ShortageRead] = Field(default_factory=list, description="Reported when the batch was received")


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


class ShortageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id
    quantity: PositiveQuantity
    kind: ShortageKind


class BatchReceipt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortages: list[ShortageIn] = Field(
        default_factory=list, max_length=200, description="Units missing or damaged; empty: everything arrived"
    )


class ShortageQuery(ListQuery):
    date: Day | None = Field(default=None, description="Local date of the receipts (default: today)")
    leader_id: UserId | None = None


class BatchShortages(BaseModel):
    batch_id: int
    leader_id: str
    cutoff_date: date
    received_at: datetime | None
    received_by: str | None
    items: list[ShortageRead]


class ShortageTotal(BaseModel):
    product_id: int
    product_name: str
    kind: ShortageKind
    quantity: int
    refunded_quantity: int
    refund_fen: int


class ShortageReport(BaseModel):
    date: dt.date
    products: list[ShortageTotal] = Field(description="The whole day's shortages per product and kind")
    batches: list[BatchShortages] = Field(description="One page of the batches short that day, by batch id")
    next_cursor: str | None = None


class CutoffRequest(BaseModel):
    """Without `pickup_date`: the latest daily cut-off, as the periodic job runs it. With it: every paid order to be
    picked up by that date is batched now, whenever it was paid."""

    model_config = ConfigDict(extra="forbid")

    pickup_date: Day | None = None


class BatchFilters(ListQuery):
    leader_id: Annotated[Line, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="A leader's batches: the leader themselves, or staff"
    )
    status: DeliveryBatchStatus | None = None
    pickup_date: Day | None = None
