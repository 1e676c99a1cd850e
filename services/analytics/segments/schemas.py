from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.analytics.tags.schemas import TagCode
from services.common.exports import ExportFormat
from services.common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor


class SegmentName(StrEnum):
    """Members grouped by behaviour (docs/metrics.md defines each)."""

    ALL = "all"
    NEW = "new"
    ACTIVE = "active"
    DORMANT = "dormant"
    CHURNED = "churned"
    HIGH_VALUE = "high_value"


SEGMENTS: tuple[SegmentName, ...] = tuple(SegmentName)


class SegmentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: TagCode | None = Field(default=None, description="Only customers with this tag")
    format: ExportFormat = ExportFormat.JSON


class SegmentMembersQuery(SegmentQuery):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (JSON)")
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the previous page")


class SegmentSettings(BaseModel):
    new_member_days: int
    dormant_days: int
    churned_days: int
    high_value_share_bp: int


class SegmentCount(BaseModel):
    segment: SegmentName
    members: int


class Segments(BaseModel):
    leader_id: str
    as_of: date
    tag: str | None
    settings: SegmentSettings
    segments: list[SegmentCount]


class SegmentMember(BaseModel):
    customer_id: str
    is_member: bool
    first_joined_on: date | None
    joined_on: date | None
    left_on: date | None
    first_order_on: date | None
    last_order_on: date | None
    orders: int
    gmv_fen: int
    refunds_fen: int
    net_sales_fen: int
    tags: list[str]


SEGMENT_MEMBER_COLUMNS = list(SegmentMember.model_fields)


class SegmentMembers(BaseModel):
    leader_id: str
    segment: SegmentName
    as_of: date
    items: list[SegmentMember]
    next_cursor: str | None = None
