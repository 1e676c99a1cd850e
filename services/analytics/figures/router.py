from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Response

from services.analytics.access import (
    LeaderNotKnown,
    NotYourCommunity,
    managed_leaders_only,
)
from services.analytics.clients import LeadersUnavailable
from services.analytics.deps import ConnectionDep, LeaderIdPath, LeadersDep, SettingsDep, TodayDep
from services.analytics.figures import service
from services.analytics.figures.access import ensure_can_read_leader
from services.analytics.figures.chart import render_community_chart
from services.analytics.figures.exceptions import InvalidRange
from services.analytics.figures.schemas import (
    ALERT_COLUMNS,
    COHORT_COLUMNS,
    DAILY_COLUMNS,
    FLASH_SALE_COLUMNS,
    RANKING_COLUMNS,
    Activity,
    AlertQuery,
    Alerts,
    ChartQuery,
    CohortQuery,
    Cohorts,
    CommunityStats,
    Dashboard,
    DashboardQuery,
    FlashSales,
    LeaderRanking,
    RangeQuery,
    RankingQuery,
)
from services.common.auth import InvalidToken, MissingPermission, Principal, require_permission, signed_in
from services.common.errors import problem_docs
from services.common.exports import PNG_CONTENT, csv_response, png_response, safe_filename, table_endpoint
from services.common.permissions import Permission

community_router = APIRouter(prefix="/api/v1/leaders/{leader_id}", tags=["community analytics"])
ops_router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

LEADER_ERRORS = (InvalidToken, NotYourCommunity, LeaderNotKnown, InvalidRange)
OPS_ERRORS = (InvalidToken, MissingPermission, InvalidRange)
#: A leader reading their own community, or staff with `analytics.read` (a manager: their leaders' only).
FiguresReader = Annotated[Principal, Depends(signed_in(Permission.ANALYTICS_READ))]
AnalyticsStaff = Annotated[Principal, Depends(require_permission(Permission.ANALYTICS_READ))]
PlatformStaff = Annotated[Principal, Depends(require_permission(Permission.ANALYTICS_PLATFORM))]


def _range_name(prefix: str, *parts: str) -> str:
    return safe_filename(prefix, *parts)


@table_endpoint(
    community_router,
    "/community/stats",
    name="community_stats",
    summary="A community's figures over a range, with one row per day (the leader; staff: analytics.read)",
    response_model=CommunityStats,
    errors=LEADER_ERRORS,
    description="Figures as defined in docs/metrics.md; the CSV holds the daily rows",
)
async def community_stats(
    leader_id: LeaderIdPath,
    query: Annotated[RangeQuery, Query()],
    conn: ConnectionDep,
    user: FiguresReader,
    today: TodayDep,
    settings: SettingsDep,
) -> CommunityStats | Response:
    """Members, joins, leaves, churn, buyers, conversion, repeat rate, orders, GMV, refunds, net sales, top products."""
    await ensure_can_read_leader(conn, user, leader_id)
    start, end = service.resolve_range(query.date_from, query.date_to, today=today)
    stats = await service.community_stats(conn, leader_id=leader_id, start=start, end=end, top=settings.top_products)
    if query.format == "csv":
        rows = [row.model_dump() for row in stats.daily]
        return csv_response(_range_name("community-stats", leader_id, str(start), str(end)), DAILY_COLUMNS, rows)
    return stats


@table_endpoint(
    community_router,
    "/community/cohorts",
    name="community_cohorts",
    summary="Weekly cohort retention: members by join week, the share who bought in each week after (the leader; "
    "staff: analytics.read)",
    response_model=Cohorts,
    errors=LEADER_ERRORS,
    description="One cohort per week; the CSV has one row per (cohort, week)",
)
async def community_cohorts(
    leader_id: LeaderIdPath,
    query: Annotated[CohortQuery, Query()],
    conn: ConnectionDep,
    user: FiguresReader,
    today: TodayDep,
) -> Cohorts | Response:
    await ensure_can_read_leader(conn, user, leader_id)
    cohorts = await service.cohorts(conn, leader_id=leader_id, today=today, weeks=query.weeks)
    if query.format == "csv":
        rows = [
            {"cohort_week": c.week_start, "members": c.members, **w.model_dump()}
            for c in cohorts.cohorts
            for w in c.weeks
        ]
        return csv_response(_range_name("community-cohorts", leader_id, str(today)), COHORT_COLUMNS, rows)
    return cohorts


@table_endpoint(
    community_router,
    "/community/activity",
    name="community_activity",
    summary="When the community orders and signs in: counts by local hour of day (the leader; staff: analytics.read)",
    response_model=Activity,
    errors=LEADER_ERRORS,
    description="24 rows, hours 0-23 in the business time zone",
)
async def community_activity(
    leader_id: LeaderIdPath,
    query: Annotated[RangeQuery, Query()],
    conn: ConnectionDep,
    user: FiguresReader,
    today: TodayDep,
) -> Activity | Response:
    await ensure_can_read_leader(conn, user, leader_id)
    start, end = service.resolve_range(query.date_from, query.date_to, today=today)
    activity = await service.activity(conn, leader_id=leader_id, start=start, end=end)
    if query.format == "csv":
        rows = [hour.model_dump() for hour in activity.hours]
        return csv_response(
            _range_name("community-activity", leader_id, str(start), str(end)), ["hour", "orders", "sign_ins"], rows
        )
    return activity


@community_router.get(
    "/community/chart.png",
    response_class=Response,
    summary="Members and net sales over time as a picture to post in the group (the leader; staff: analytics.read)",
    responses={
        **problem_docs(*LEADER_ERRORS),
        200: {"description": "A PNG image", "content": PNG_CONTENT},
    },
)
async def community_chart(
    leader_id: LeaderIdPath,
    query: Annotated[ChartQuery, Query()],
    conn: ConnectionDep,
    user: FiguresReader,
    today: TodayDep,
    settings: SettingsDep,
) -> Response:
    await ensure_can_read_leader(conn, user, leader_id)
    start, end = service.resolve_range(query.date_from, query.date_to, today=today)
    stats = await service.community_stats(conn, leader_id=leader_id, start=start, end=end, top=1)
    image = await anyio.to_thread.run_sync(render_community_chart, stats)
    return png_response(_range_name("community", leader_id, str(start), str(end)), image)


@community_router.get(
    "/dashboard",
    response_model=Dashboard,
    summary="Today and this month at a glance: members, orders, net sales, commission, level, rank (the leader; "
    "staff: analytics.read)",
    responses=problem_docs(InvalidToken, NotYourCommunity, LeaderNotKnown, LeadersUnavailable),
)
async def leader_dashboard(
    leader_id: LeaderIdPath,
    query: Annotated[DashboardQuery, Query()],
    conn: ConnectionDep,
    user: FiguresReader,
    today: TodayDep,
    leaders: LeadersDep,
) -> Dashboard:
    """Commission and level come from the leaders service now; a 503 says it did not answer."""
    await ensure_can_read_leader(conn, user, leader_id)
    summary = await leaders.summary(leader_id)
    return await service.dashboard(conn, leader_id=leader_id, today=today, summary=summary)


# -- platform (ops; rankings and alerts also for managers, limited to their leaders) --------------------------------


@table_endpoint(
    ops_router,
    "/overview",
    name="platform_overview",
    summary="The community figures across the platform over a range (staff: analytics.platform)",
    response_model=CommunityStats,
    errors=OPS_ERRORS,
    description="Figures as defined in docs/metrics.md (leader_id is null); the CSV holds the daily rows",
)
async def platform_overview(
    query: Annotated[RangeQuery, Query()],
    conn: ConnectionDep,
    user: PlatformStaff,
    today: TodayDep,
    settings: SettingsDep,
) -> CommunityStats | Response:
    start, end = service.resolve_range(query.date_from, query.date_to, today=today)
    stats = await service.community_stats(conn, leader_id=None, start=start, end=end, top=settings.top_products)
    if query.format == "csv":
        rows = [row.model_dump() for row in stats.daily]
        return csv_response(_range_name("platform-overview", str(start), str(end)), DAILY_COLUMNS, rows)
    return stats


@table_endpoint(
    ops_router,
    "/activity",
    name="platform_activity",
    summary="When customers order and sign in across the platform, by local hour (staff: analytics.platform)",
    response_model=Activity,
    errors=OPS_ERRORS,
    description="24 rows, hours 0-23 in the business time zone",
)
async def platform_activity(
    query: Annotated[RangeQuery, Query()], conn: ConnectionDep, user: PlatformStaff, today: TodayDep
) -> Activity | Response:
    start, end = service.resolve_range(query.date_from, query.date_to, today=today)
    activity = await service.activity(conn, leader_id=None, start=start, end=end)
    if query.format == "csv":
        rows = [hour.model_dump() for hour in activity.hours]
        return csv_response(
            _range_name("platform-activity", str(start), str(end)), ["hour", "orders", "sign_ins"], rows
        )
    return activity


@table_endpoint(
    ops_router,
    "/leaders",
    name="leader_ranking",
    summary="Leaders ranked by net sales, growth or churn over a range (staff: analytics.read; a manager sees "
    "their leaders)",
    response_model=LeaderRanking,
    errors=(InvalidToken, MissingPermission, InvalidRange),
    description="Highest first, ties by leader id; the CSV lists every leader",
)
async def leader_ranking(
    query: Annotated[RankingQuery, Query()], conn: ConnectionDep, user: AnalyticsStaff, today: TodayDep
) -> LeaderRanking | Response:
    manager_id = managed_leaders_only(user)
    start, end = service.resolve_range(query.date_from, query.date_to, today=today)
    rows = await service.ranking(conn, start=start, end=end, sort=query.sort, manager_id=manager_id)
    if query.format == "csv":
        name = _range_name("leader-ranking", query.sort, str(start), str(end))
        return csv_response(name, RANKING_COLUMNS, [row.model_dump() for row in rows])
    return LeaderRanking(date_from=start, date_to=end, sort=query.sort, leaders=rows[: query.limit])


@table_endpoint(
    ops_router,
    "/alerts",
    name="leader_alerts",
    summary="Leaders whose active buyers fell or whose leave rate rose week on week (staff: analytics.read; a "
    "manager sees theirs)",
    response_model=Alerts,
    errors=(InvalidToken, MissingPermission),
    description="Thresholds are settings (ANALYTICS_ALERT_*)",
)
async def leader_alerts(
    query: Annotated[AlertQuery, Query()],
    conn: ConnectionDep,
    user: FiguresReader,
    today: TodayDep,
    settings: SettingsDep,
) -> Alerts | Response:
    manager_id = managed_leaders_only(user)
    week_of = query.week or service.previous_week(today)
    found = await service.alerts(
        conn,
        week_of=week_of,
        buyers_drop_bp=settings.alert_buyers_drop_bp,
        leave_rate_rise_bp=settings.alert_leave_rate_rise_bp,
        min_buyers=settings.alert_min_buyers,
        manager_id=manager_id,
    )
    if query.format == "csv":
        rows = [alert.model_dump() for alert in found.alerts]
        return csv_response(_range_name("leader-alerts", str(found.week_start)), ALERT_COLUMNS, rows)
    return found


@table_endpoint(
    ops_router,
    "/flash-sales",
    name="flash_sale_figures",
    summary="Flash sales starting in a range: sold, time to sell out, purchase-to-paid conversion "
    "(staff: analytics.platform)",
    response_model=FlashSales,
    errors=OPS_ERRORS,
    description="One row per sale",
)
async def flash_sale_figures(
    query: Annotated[RangeQuery, Query()], conn: ConnectionDep, user: PlatformStaff, today: TodayDep
) -> FlashSales | Response:
    start, end = service.resolve_range(query.date_from, query.date_to, today=today)
    sales = await service.flash_sale_figures(conn, start=start, end=end)
    if query.format == "csv":
        rows = [sale.model_dump() for sale in sales]
        return csv_response(_range_name("flash-sales", str(start), str(end)), FLASH_SALE_COLUMNS, rows)
    return FlashSales(date_from=start, date_to=end, sales=sales)
