"""Segments of a community (docs/metrics.md, "Segments"), computed for today from each person's figures."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.config import Settings
from services.analytics.segments import repository
from services.analytics.segments.schemas import (
    SEGMENTS,
    SegmentCount,
    SegmentMember,
    SegmentMembers,
    SegmentName,
    Segments,
    SegmentSettings,
)
from services.analytics.tags.service import require_tag
from services.common.pagination import InvalidCursor, decode_cursor, encode_cursor


def high_value_top(members_with_sales: int, share_bp: int) -> int:
    """ceil(P × share ÷ 10000): the top share, at least one person as soon as anyone has net sales."""
    return (members_with_sales * share_bp + 9_999) // 10_000


def _conditions(settings: Settings, today: date) -> Any:
    return repository.conditions(
        today=today,
        new_member_days=settings.new_member_days,
        dormant_days=settings.dormant_days,
        churned_days=settings.churned_days,
    )


async def segment_counts(
    conn: AsyncConnection, *, leader_id: str, today: date, settings: Settings, tag: str | None
) -> Segments:
    if tag is not None:
        await require_tag(conn, tag)
    top = high_value_top(await repository.members_with_net_sales(conn, leader_id), settings.high_value_share_bp)
    counts = await repository.count_segments(conn, leader_id, _conditions(settings, today), high_value_top=top, tag=tag)
    return Segments(
        leader_id=leader_id,
        as_of=today,
        tag=tag,
        settings=SegmentSettings(
            new_member_days=settings.new_member_days,
            dormant_days=settings.dormant_days,
            churned_days=settings.churned_days,
            high_value_share_bp=settings.high_value_share_bp,
        ),
        segments=[SegmentCount(segment=name, members=counts[name]) for name in SEGMENTS],
    )


def _after(cursor: str | None) -> tuple[int, str] | None:
    if cursor is None:
        return None
    key = decode_cursor(cursor)
    if len(key) != 2 or not isinstance(key[0], int) or isinstance(key[0], bool) or not isinstance(key[1], str):
        raise InvalidCursor()
    return key[0], key[1]


async def segment_members(
    conn: AsyncConnection,
    *,
    leader_id: str,
    segment: SegmentName,
    today: date,
    settings: Settings,
    tag: str | None,
    limit: int | None,
    cursor: str | None,
) -> SegmentMembers:
    """A page of the segment (`limit`), or all of it (`limit=None`, for the CSV)."""
    if tag is not None:
        await require_tag(conn, tag)
    top = None
    condition = None
    if segment == "high_value":
        top = high_value_top(await repository.members_with_net_sales(conn, leader_id), settings.high_value_share_bp)
    else:
        condition = _conditions(settings, today)[segment]
    rows = await repository.list_members(
        conn,
        leader_id,
        condition,
        high_value_top=top,
        tag=tag,
        after=_after(cursor),
        limit=limit + 1 if limit is not None else None,
    )
    has_more = limit is not None and len(rows) > limit
    page = rows[:limit] if limit is not None else rows
    tags = await repository.tags_of(conn, [row.customer_id for row in page])
    items = [
        SegmentMember(
            customer_id=row.customer_id,
            is_member=bool(row.is_member),
            first_joined_on=row.first_joined_on,
            joined_on=row.joined_on,
            left_on=row.left_on,
            first_order_on=row.first_order_on,
            last_order_on=row.last_order_on,
            orders=int(row.orders),
            gmv_fen=int(row.gmv_fen),
            refunds_fen=int(row.refunds_fen),
            net_sales_fen=int(row.net_sales_fen),
            tags=tags.get(row.customer_id, []),
        )
        for row in page
    ]
    next_cursor = encode_cursor([items[-1].net_sales_fen, items[-1].customer_id]) if has_more and items else None
    return SegmentMembers(leader_id=leader_id, segment=segment, as_of=today, items=items, next_cursor=next_cursor)
