"""Requests and responses of the figures endpoints. Query parameters are models that forbid unknown names, so a
misspelt parameter is a 422, never silently ignored."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.common.exports import ExportFormat
from services.common.types import Day


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RangeQuery(_Query):
    date_from: Day | None = Field(default=None, alias="from", description="First local date (inclusive)")
    date_to: Day | None = Field(default=None, alias="to", description="Last local date (inclusive)")
    format: ExportFormat = Field(default=ExportFormat.JSON, description="`csv`: the table as a spreadsheet")


class ChartQuery(_Query):
    date_from: Day | None = Field(default=None, alias="from", description="First local date (inclusive)")
    date_to: Day | None = Field(default=None, alias="to", description="Last local date (inclusive)")


class CohortQuery(_Query):
    weeks: int = Field(default=8, ge=1, le=52, description="Cohort weeks, the current one included")
    format: ExportFormat = ExportFormat.JSON


class RankingSort(StrEnum):
    """How leaders are ranked: by net sales, by net member growth, or by churn (highest first)."""

    NET_SALES = "net_sales"
    GROWTH = "growth"
    CHURN = "churn"


class RankingQuery(RangeQuery):
    sort: RankingSort = RankingSort.NET_SALES
    limit: int = Field(default=50, ge=1, le=10_000, description="Leaders listed (JSON); the CSV lists every one")


class AlertQuery(_Query):
    week: Day | None = Field(default=None, description="Any date of the week to check; default: last full week")
    format: ExportFormat = ExportFormat.JSON


class DashboardQuery(_Query):
    pass


class TopProduct(BaseModel):
    product_id: int
    name: str | None
    lines: int
    units: int
    refunded_units: int
    gmv_fen: int
    refunds_fen: int
    net_sales_fen: int


class DailyFigures(BaseModel):
    date: date
    members_total: int = Field(description="Members at the end of the day")
    members_joined: int
    members_left: int
    net_growth: int
    churn_rate_bp: int = Field(description="Left ÷ members at the end of the previous day")
    active_buyers: int
    conversion_bp: int
    repeat_rate_bp: int
    orders: int
    orders_picked_up: int
    gmv_fen: int
    refunds_fen: int
    net_sales_fen: int
    aov_fen: int


DAILY_COLUMNS = list(DailyFigures.model_fields)


class CommunityStats(BaseModel):
    """The figures of docs/metrics.md over a range, for one leader's community or (leader_id null) the platform."""

    leader_id: str | None
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    members_at_start: int
    members_total: int
    members_joined: int
    members_left: int
    net_growth: int
    churn_rate_bp: int
    active_buyers: int
    repeat_buyers: int
    conversion_bp: int
    repeat_rate_bp: int
    orders: int
    orders_picked_up: int
    gmv_fen: int
    refunds_fen: int
    net_sales_fen: int
    aov_fen: int
    points_used: int
    referrals: int
    top_products: list[TopProduct]
    daily: list[DailyFigures]


class CohortWeek(BaseModel):
    week: int = Field(description="Weeks after the join week (0 = the join week)")
    week_start: date
    buyers: int
    retention_bp: int


class Cohort(BaseModel):
    week_start: date
    members: int
    weeks: list[CohortWeek]


class Cohorts(BaseModel):
    leader_id: str
    as_of: date
    cohorts: list[Cohort]


COHORT_COLUMNS = ["cohort_week", "members", "week", "week_start", "buyers", "retention_bp"]


class HourActivity(BaseModel):
    hour: int
    orders: int
    sign_ins: int


class Activity(BaseModel):
    leader_id: str | None
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    hours: list[HourActivity]


class PeriodFigures(BaseModel):
    members_total: int = Field(description="Members at the end of the period (now, for today and this month)")
    members_joined: int
    members_left: int
    orders: int
    gmv_fen: int
    refunds_fen: int
    net_sales_fen: int


class MonthFigures(PeriodFigures):
    month: str = Field(description="YYYY-MM")


class LevelProgress(BaseModel):
    current: str | None
    next: str | None
    window_days: int
    window_sales_fen: int
    window_completed_orders: int
    next_min_sales_fen: int | None
    next_min_completed_orders: int | None
    progress_bp: int | None = Field(description="The lesser of sales and orders progress to the next level")


class Commission(BaseModel):
    pending_fen: int
    available_fen: int


class Rank(BaseModel):
    month: str
    rank: int = Field(description="1 + leaders with higher net sales this month")
    leaders_ranked: int


class Dashboard(BaseModel):
    leader_id: str
    as_of: date
    today: PeriodFigures
    month: MonthFigures
    commission: Commission
    level: LevelProgress
    rank: Rank


class LeaderRankingRow(BaseModel):
    rank: int
    leader_id: str
    manager_id: str | None
    level: str | None
    members_at_start: int
    members_total: int
    members_joined: int
    members_left: int
    net_growth: int
    churn_rate_bp: int
    orders: int
    gmv_fen: int
    refunds_fen: int
    net_sales_fen: int


RANKING_COLUMNS = list(LeaderRankingRow.model_fields)


class LeaderRanking(BaseModel):
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    sort: RankingSort
    leaders: list[LeaderRankingRow]


class AlertReason(StrEnum):
    ACTIVE_BUYERS_FELL = "active_buyers_fell"
    LEAVE_RATE_ROSE = "leave_rate_rose"


class LeaderAlert(BaseModel):
    leader_id: str
    manager_id: str | None
    reasons: list[AlertReason]
    active_buyers_previous: int
    active_buyers: int
    active_buyers_drop_bp: int
    leave_rate_previous_bp: int
    leave_rate_bp: int


ALERT_COLUMNS = list(LeaderAlert.model_fields)


class Alerts(BaseModel):
    week_start: date
    previous_week_start: date
    buyers_drop_threshold_bp: int
    leave_rate_rise_threshold_bp: int
    alerts: list[LeaderAlert]


class FlashSaleFigures(BaseModel):
    flash_sale_id: int
    product_id: int
    product_name: str | None
    price_fen: int
    stock: int
    starts_at: datetime
    ends_at: datetime
    orders_placed: int
    units_placed: int
    orders_paid: int
    units_sold: int
    orders_cancelled: int
    gmv_fen: int
    conversion_bp: int = Field(description="Orders paid ÷ orders placed")
    sold_out_at: datetime | None
    seconds_to_sell_out: int | None


FLASH_SALE_COLUMNS = list(FlashSaleFigures.model_fields)


class FlashSales(BaseModel):
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    sales: list[FlashSaleFigures]
