"""SQL of the segments: one leader's people (`community_members`, keyed leader → person) filtered by behaviour."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.models import community_members, customer_tags
from services.analytics.segments.schemas import SegmentName

cm = community_members


def _tagged(tag: str) -> ColumnElement[bool]:
    return cm.c.customer_id.in_(select(customer_tags.c.customer_id).where(customer_tags.c.tag == tag))


def _high_value_ids(leader_id: str, top: int) -> Any:
    return (
        select(cm.c.customer_id)
        .where(cm.c.leader_id == leader_id, cm.c.is_member.is_(True), cm.c.net_sales_fen > 0)
        .order_by(cm.c.net_sales_fen.desc(), cm.c.customer_id)
        .limit(top)
    )


def conditions(
    *, today: date, new_member_days: int, dormant_days: int, churned_days: int
) -> dict[SegmentName, ColumnElement[bool]]:
    member = cm.c.is_member.is_(True)
    last_activity = func.coalesce(cm.c.last_order_on, cm.c.joined_on)
    dormant_from = today - timedelta(days=dormant_days)
    churned_from = today - timedelta(days=churned_days)
    return {
        SegmentName.ALL: member,
        SegmentName.NEW: and_(member, cm.c.joined_on > today - timedelta(days=new_member_days)),
        SegmentName.ACTIVE: and_(member, cm.c.last_order_on > dormant_from),
        SegmentName.DORMANT: and_(member, last_activity <= dormant_from, last_activity > churned_from),
        SegmentName.CHURNED: or_(
            and_(cm.c.is_member.is_(False), cm.c.left_on.is_not(None)), and_(member, last_activity <= churned_from)
        ),
    }


async def members_with_net_sales(conn: AsyncConnection, leader_id: str) -> int:
    query = select(func.count()).where(cm.c.leader_id == leader_id, cm.c.is_member.is_(True), cm.c.net_sales_fen > 0)
    return int((await conn.execute(query)).scalar_one())


async def count_segments(
    conn: AsyncConnection,
    leader_id: str,
    segments: dict[SegmentName, ColumnElement[bool]],
    *,
    high_value_top: int,
    tag: str | None,
) -> dict[SegmentName, int]:
    query = select(*(func.coalesce(func.sum(case((cond, 1), else_=0)), 0) for cond in segments.values())).where(
        cm.c.leader_id == leader_id
    )
    high_value = select(func.count()).where(
        cm.c.leader_id == leader_id, cm.c.customer_id.in_(_high_value_ids(leader_id, high_value_top))
    )
    if tag is not None:
        query = query.where(_tagged(tag))
        high_value = high_value.where(_tagged(tag))
    row = (await conn.execute(query)).one()
    counts: dict[SegmentName, int] = {name: int(value) for name, value in zip(segments, row, strict=True)}
    counts[SegmentName.HIGH_VALUE] = int((await conn.execute(high_value)).scalar_one()) if high_value_top > 0 else 0
    return counts


async def list_members(
    conn: AsyncConnection,
    leader_id: str,
    condition: ColumnElement[bool] | None,
    *,
    high_value_top: int | None,
    tag: str | None,
    after: tuple[int, str] | None,
    limit: int | None,
) -> Sequence[Any]:
    """People of the segment, most valuable first (net sales, then id): whom to call first."""
    query = select(
        cm.c.customer_id,
        cm.c.is_member,
        cm.c.first_joined_on,
        cm.c.joined_on,
        cm.c.left_on,
        cm.c.first_order_on,
        cm.c.last_order_on,
        cm.c.orders,
        cm.c.gmv_fen,
        cm.c.refunds_fen,
        cm.c.net_sales_fen,
    ).where(cm.c.leader_id == leader_id)
    if condition is not None:
        query = query.where(condition)
    if high_value_top is not None:
        query = query.where(cm.c.customer_id.in_(_high_value_ids(leader_id, high_value_top)))
    if tag is not None:
        query = query.where(_tagged(tag))
    if after is not None:
        net, customer_id = after
        query = query.where(
            or_(cm.c.net_sales_fen < net, and_(cm.c.net_sales_fen == net, cm.c.customer_id > customer_id))
        )
    query = query.order_by(cm.c.net_sales_fen.desc(), cm.c.customer_id)
    if limit is not None:
        query = query.limit(limit)
    return (await conn.execute(query)).all()


async def tags_of(conn: AsyncConnection, customer_ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    if not customer_ids:
        return found
    query = (
        select(customer_tags.c.customer_id, customer_tags.c.tag)
        .where(customer_tags.c.customer_id.in_(customer_ids))
        .order_by(customer_tags.c.customer_id, customer_tags.c.tag)
    )
    for customer_id, tag in await conn.execute(query):
        found[customer_id].append(tag)
    return found
