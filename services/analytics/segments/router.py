from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from services.analytics.access import LeaderNotKnown, NotYourCommunity
from services.analytics.deps import ConnectionDep, LeaderIdPath, SettingsDep, TodayDep
from services.analytics.figures.access import ensure_can_read_leader
from services.analytics.segments import service
from services.analytics.segments.schemas import (
    SEGMENT_MEMBER_COLUMNS,
    SegmentMembers,
    SegmentMembersQuery,
    SegmentName,
    SegmentQuery,
    Segments,
)
from services.analytics.tags.exceptions import TagNotFound
from services.common.auth import InvalidToken, Principal, signed_in
from services.common.exports import csv_response, safe_filename, table_endpoint
from services.common.pagination import InvalidCursor
from services.common.permissions import Permission

#: A leader reading their own community, or staff with `analytics.read` (a manager: their leaders' only).
FiguresReader = Annotated[Principal, Depends(signed_in(Permission.ANALYTICS_READ))]
router = APIRouter(prefix="/api/v1/leaders/{leader_id}/community/segments", tags=["community analytics"])

SegmentPath = Annotated[SegmentName, Path(description="all, new, active, dormant, churned or high_value")]


@table_endpoint(
    router,
    "",
    name="community_segments",
    summary="How many people each segment of the community holds today (the leader; staff: analytics.read)",
    response_model=Segments,
    errors=(InvalidToken, NotYourCommunity, LeaderNotKnown, TagNotFound),
    description="Counts per segment (docs/metrics.md, Segments); `tag` keeps customers with that tag",
)
async def community_segments(
    leader_id: LeaderIdPath,
    query: Annotated[SegmentQuery, Query()],
    conn: ConnectionDep,
    user: FiguresReader,
    today: TodayDep,
    settings: SettingsDep,
) -> Segments | Response:
    await ensure_can_read_leader(conn, user, leader_id)
    segments = await service.segment_counts(conn, leader_id=leader_id, today=today, settings=settings, tag=query.tag)
    if query.format == "csv":
        rows = [count.model_dump() for count in segments.segments]
        name = safe_filename("community-segments", leader_id, str(today), query.tag or "")
        return csv_response(name, ["segment", "members"], rows)
    return segments


@table_endpoint(
    router,
    "/{segment}/members",
    name="community_segment_members",
    summary="The people of a segment, most valuable first: whom to wake up (the leader; staff: analytics.read)",
    response_model=SegmentMembers,
    errors=(InvalidToken, NotYourCommunity, LeaderNotKnown, TagNotFound, InvalidCursor),
    description="Join and leave dates, last order date and net sales per person; the CSV holds the whole segment",
)
async def community_segment_members(
    leader_id: LeaderIdPath,
    segment: SegmentPath,
    query: Annotated[SegmentMembersQuery, Query()],
    conn: ConnectionDep,
    user: FiguresReader,
    today: TodayDep,
    settings: SettingsDep,
) -> SegmentMembers | Response:
    await ensure_can_read_leader(conn, user, leader_id)
    as_csv = query.format == "csv"
    members = await service.segment_members(
        conn,
        leader_id=leader_id,
        segment=segment,
        today=today,
        settings=settings,
        tag=query.tag,
        limit=None if as_csv else query.limit,
        cursor=None if as_csv else query.cursor,
    )
    if as_csv:
        rows = [member.model_dump() for member in members.items]
        name = safe_filename("community", leader_id, segment, str(today), query.tag or "")
        return csv_response(name, SEGMENT_MEMBER_COLUMNS, rows)
    return members
