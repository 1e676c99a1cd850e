"""The figures of docs/metrics.md, computed from the read model. No HTTP here; every rate is floor(n × 10000 ÷ d)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.clients import LeaderSummary
from services.analytics.figures import repository
from services.analytics.figures.exceptions import InvalidRange
from services.analytics.figures.schemas import (
    Activity,
    Alerts,
    Cohort,
    Cohorts,
    CohortWeek,
    Commission,
    CommunityStats,
    DailyFigures,
    Dashboard,
    FlashSaleFigures,
    HourActivity,
    LeaderAlert,
    LeaderRankingRow,
    LevelProgress,
    MonthFigures,
    PeriodFigures,
    Rank,
    RankingSort,
    TopProduct,
)
from services.analytics.ingest.service import month_of
from services.common.clock import as_utc

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30


def rate_bp(numerator: int, denominator: int) -> int:
    """Basis points rounded down; 0 when there is nothing to divide by."""
    return numerator * 10_000 // denominator if denominator > 0 else 0


def resolve_range(date_from: date | None, date_to: date | None, *, today: date) -> tuple[date, date]:
    end = date_to or today
    start = date_from or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start > end:
        raise InvalidRange(f"'from' ({start}) is after 'to' ({end})")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidRange(f"A range covers at most {MAX_RANGE_DAYS} days; {start}..{end} has {(end - start).days + 1}")
    return start, end


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def previous_week(today: date) -> date:
    """The Monday of the last full week before today's."""
    return week_start(today) - timedelta(days=7)


# -- stats ----------------------------------------------------------------------------------------------------------


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


async def community_stats(
    conn: AsyncConnection, *, leader_id: str | None, start: date, end: date, top: int
) -> CommunityStats:
    members_start = await repository.members_at(conn, leader_id, start - timedelta(days=1))
    rows = await repository.day_rows(conn, leader_id, start, end)
    buyers_daily = await repository.buyers_by_day(conn, leader_id, start, end)
    daily: list[DailyFigures] = []
    totals: dict[str, int] = defaultdict(int)
    members = members_start
    for day in _days(start, end):
        figures = rows.get(day, {})
        for name, value in figures.items():
            totals[name] += value
        before = members
        members += figures.get("joins", 0) - figures.get("leaves", 0)
        buyers, repeat = buyers_daily.get(day, (0, 0))
        n_orders, gmv, refunds = figures.get("orders", 0), figures.get("gmv_fen", 0), figures.get("refunds_fen", 0)
        daily.append(
            DailyFigures(
                date=day,
                members_total=members,
                members_joined=figures.get("joins", 0),
                members_left=figures.get("leaves", 0),
                net_growth=figures.get("joins", 0) - figures.get("leaves", 0),
                churn_rate_bp=rate_bp(figures.get("leaves", 0), before),
                active_buyers=buyers,
                conversion_bp=rate_bp(buyers, members),
                repeat_rate_bp=rate_bp(repeat, buyers),
                orders=n_orders,
                orders_picked_up=figures.get("picked_up", 0),
                gmv_fen=gmv,
                refunds_fen=refunds,
                net_sales_fen=gmv - refunds,
                aov_fen=gmv // n_orders if n_orders else 0,
            )
        )
    active, repeat_buyers = await repository.buyers_in_range(conn, leader_id, start, end)
    products = await repository.top_products(conn, leader_id, start, end, limit=top)
    gmv, refunds, n_orders = totals["gmv_fen"], totals["refunds_fen"], totals["orders"]
    return CommunityStats(
        leader_id=leader_id,
        date_from=start,
        date_to=end,
        members_at_start=members_start,
        members_total=members,
        members_joined=totals["joins"],
        members_left=totals["leaves"],
        net_growth=totals["joins"] - totals["leaves"],
        churn_rate_bp=rate_bp(totals["leaves"], members_start),
        active_buyers=active,
        repeat_buyers=repeat_buyers,
        conversion_bp=rate_bp(active, members),
        repeat_rate_bp=rate_bp(repeat_buyers, active),
        orders=n_orders,
        orders_picked_up=totals["picked_up"],
        gmv_fen=gmv,
        refunds_fen=refunds,
        net_sales_fen=gmv - refunds,
        aov_fen=gmv // n_orders if n_orders else 0,
        points_used=totals["points_used"],
        referrals=await repository.referrals_in_range(conn, leader_id, start, end),
        top_products=[
            TopProduct(
                product_id=int(p.product_id),
                name=p.name,
                lines=int(p.lines),
                units=int(p.units),
                refunded_units=int(p.refunded_units),
                gmv_fen=int(p.gmv_fen),
                refunds_fen=int(p.refunds_fen),
                net_sales_fen=int(p.net_sales_fen),
            )
            for p in products
        ],
        daily=daily,
    )


# -- cohorts and activity -------------------------------------------------------------------------------------------


async def cohorts(conn: AsyncConnection, *, leader_id: str, today: date, weeks: int) -> Cohorts:
    current = week_start(today)
    first = current - timedelta(weeks=weeks - 1)
    members_by_week: dict[date, set[str]] = defaultdict(set)
    cohort_of: dict[str, date] = {}
    for customer_id, joined_on in await repository.cohort_members(conn, leader_id, first):
        members_by_week[week_start(joined_on)].add(customer_id)
        cohort_of[customer_id] = week_start(joined_on)
    buyers: dict[tuple[date, date], set[str]] = defaultdict(set)
    for customer_id, day in await repository.buying_days(conn, leader_id, first):
        cohort = cohort_of.get(customer_id)
        if cohort is not None and day >= cohort:
            buyers[(cohort, week_start(day))].add(customer_id)
    result = []
    for i in range(weeks):
        cohort_week = first + timedelta(weeks=i)
        size = len(members_by_week.get(cohort_week, ()))
        offsets = []
        for k in range((current - cohort_week).days // 7 + 1):
            that_week = cohort_week + timedelta(weeks=k)
            n = len(buyers.get((cohort_week, that_week), ()))
            offsets.append(CohortWeek(week=k, week_start=that_week, buyers=n, retention_bp=rate_bp(n, size)))
        result.append(Cohort(week_start=cohort_week, members=size, weeks=offsets))
    return Cohorts(leader_id=leader_id, as_of=today, cohorts=result)


async def activity(conn: AsyncConnection, *, leader_id: str | None, start: date, end: date) -> Activity:
    by_orders = await repository.orders_by_hour(conn, leader_id, start, end)
    by_sign_ins = await repository.sign_ins_by_hour(conn, leader_id, start, end)
    return Activity(
        leader_id=leader_id,
        date_from=start,
        date_to=end,
        hours=[HourActivity(hour=h, orders=by_orders.get(h, 0), sign_ins=by_sign_ins.get(h, 0)) for h in range(24)],
    )


# -- dashboard ------------------------------------------------------------------------------------------------------


async def dashboard(conn: AsyncConnection, *, leader_id: str, today: date, summary: LeaderSummary) -> Dashboard:
    members_now = await repository.members_at(conn, leader_id, today)
    day = (await repository.day_rows(conn, leader_id, today, today)).get(today, {})
    month = month_of(today)
    month_figures = await repository.month_row(conn, leader_id, month)
    rank, known = await repository.rank_in_month(conn, month, month_figures["net_sales_fen"])
    next_level = summary.next_level
    return Dashboard(
        leader_id=leader_id,
        as_of=today,
        today=PeriodFigures(
            members_total=members_now,
            members_joined=day.get("joins", 0),
            members_left=day.get("leaves", 0),
            orders=day.get("orders", 0),
            gmv_fen=day.get("gmv_fen", 0),
            refunds_fen=day.get("refunds_fen", 0),
            net_sales_fen=day.get("gmv_fen", 0) - day.get("refunds_fen", 0),
        ),
        month=MonthFigures(
            month=month.strftime("%Y-%m"),
            members_total=members_now,
            members_joined=month_figures["joins"],
            members_left=month_figures["leaves"],
            orders=month_figures["orders"],
            gmv_fen=month_figures["gmv_fen"],
            refunds_fen=month_figures["refunds_fen"],
            net_sales_fen=month_figures["net_sales_fen"],
        ),
        commission=Commission(pending_fen=summary.pending_fen, available_fen=summary.available_fen),
        level=LevelProgress(
            current=summary.level,
            next=next_level.code if next_level else None,
            window_days=summary.window_days,
            window_sales_fen=summary.window_sales_fen,
            window_completed_orders=summary.window_completed_orders,
            next_min_sales_fen=next_level.min_sales_fen if next_level else None,
            next_min_completed_orders=next_level.min_completed_orders if next_level else None,
            progress_bp=summary.progress_bp,
        ),
        rank=Rank(month=month.strftime("%Y-%m"), rank=rank, leaders_ranked=known),
    )


# -- every leader: ranking and alerts -------------------------------------------------------------------------------


def _sort_key(sort: RankingSort, row: dict[str, int]) -> int:
    if sort == "net_sales":
        return row["net_sales_fen"]
    if sort == "growth":
        return row["net_growth"]
    return row["churn_rate_bp"]


async def ranking(
    conn: AsyncConnection, *, start: date, end: date, sort: RankingSort, manager_id: str | None
) -> list[LeaderRankingRow]:
    rows = await repository.leaders_in_range(conn, start, end, manager_id=manager_id)
    for row in rows:
        row["net_growth"] = row["members_joined"] - row["members_left"]
        row["churn_rate_bp"] = rate_bp(row["members_left"], row["members_at_start"])
        row["net_sales_fen"] = row["gmv_fen"] - row["refunds_fen"]
    rows.sort(key=lambda r: (-_sort_key(sort, r), r["leader_id"]))
    return [LeaderRankingRow(rank=i + 1, **row) for i, row in enumerate(rows)]


async def alerts(
    conn: AsyncConnection,
    *,
    week_of: date,
    buyers_drop_bp: int,
    leave_rate_rise_bp: int,
    min_buyers: int,
    manager_id: str | None,
) -> Alerts:
    this_week = week_start(week_of)
    previous = this_week - timedelta(weeks=1)
    current_rows = await repository.leaders_in_range(
        conn, this_week, this_week + timedelta(days=6), manager_id=manager_id
    )
    previous_rows = {
        r["leader_id"]: r
        for r in await repository.leaders_in_range(conn, previous, this_week - timedelta(days=1), manager_id=manager_id)
    }
    buyers_now = await repository.buyers_by_leader(
        conn, this_week, this_week + timedelta(days=6), manager_id=manager_id
    )
    buyers_before = await repository.buyers_by_leader(
        conn, previous, this_week - timedelta(days=1), manager_id=manager_id
    )
    found = []
    for row in sorted(current_rows, key=lambda r: r["leader_id"]):
        before_row = previous_rows[row["leader_id"]]
        was, now = buyers_before.get(row["leader_id"], 0), buyers_now.get(row["leader_id"], 0)
        drop = rate_bp(max(0, was - now), was)
        leave_before = rate_bp(before_row["members_left"], before_row["members_at_start"])
        leave_now = rate_bp(row["members_left"], row["members_at_start"])
        reasons = []
        if was >= min_buyers and drop >= buyers_drop_bp:
            reasons.append("active_buyers_fell")
        if leave_now - leave_before >= leave_rate_rise_bp:
            reasons.append("leave_rate_rose")
        if reasons:
            found.append(
                LeaderAlert(
                    leader_id=row["leader_id"],
                    manager_id=row["manager_id"],
                    reasons=reasons,
                    active_buyers_previous=was,
                    active_buyers=now,
                    active_buyers_drop_bp=drop,
                    leave_rate_previous_bp=leave_before,
                    leave_rate_bp=leave_now,
                )
            )
    return Alerts(
        week_start=this_week,
        previous_week_start=previous,
        buyers_drop_threshold_bp=buyers_drop_bp,
        leave_rate_rise_threshold_bp=leave_rate_rise_bp,
        alerts=found,
    )


# -- flash sales ----------------------------------------------------------------------------------------------------


def _sold_out_at(stock: int, orders: list[tuple[datetime, int, datetime | None]]) -> datetime | None:
    """The first purchase at which units held by placed, not yet cancelled orders reached the stock."""
    moments: list[tuple[datetime, int]] = []
    for placed_at, units, cancelled_at in orders:
        moments.append((placed_at, units))
        if cancelled_at is not None:
            moments.append((cancelled_at, -units))
    held = 0
    # At the same instant a cancellation is counted before a purchase: the unit was free for that buyer.
    for moment, change in sorted(moments, key=lambda m: (m[0], m[1])):
        held += change
        if change > 0 and held >= stock:
            return moment
    return None


async def flash_sale_figures(conn: AsyncConnection, *, start: date, end: date) -> list[FlashSaleFigures]:
    sales = await repository.flash_sales_starting(conn, start, end)
    by_sale: dict[int, list[tuple[int, datetime | None, datetime | None, int, datetime | None]]] = defaultdict(list)
    for row in await repository.flash_sale_orders(conn, [int(s.flash_sale_id) for s in sales]):
        by_sale[int(row.flash_sale_id)].append(
            (int(row.units), row.placed_at, row.paid_at, int(row.paid_fen), row.cancelled_at)
        )
    result = []
    for sale in sales:
        rows = by_sale.get(int(sale.flash_sale_id), [])
        # An order paid but whose placement was never published still was a purchase, made when it was paid.
        purchases = [
            (as_utc(moment), units, cancelled_at)
            for units, placed_at, paid_at, _, cancelled_at in rows
            if (moment := placed_at or paid_at) is not None
        ]
        paid = [r for r in rows if r[2] is not None]
        cancelled = [r for r in rows if r[4] is not None and r[2] is None]
        sold_out = _sold_out_at(int(sale.stock), purchases)
        starts_at = as_utc(sale.starts_at)
        result.append(
            FlashSaleFigures(
                flash_sale_id=int(sale.flash_sale_id),
                product_id=int(sale.product_id),
                product_name=sale.product_name or sale.current_name,
                price_fen=int(sale.price_fen),
                stock=int(sale.stock),
                starts_at=starts_at,
                ends_at=as_utc(sale.ends_at),
                orders_placed=len(purchases),
                units_placed=sum(units for _, units, _ in purchases),
                orders_paid=len(paid),
                units_sold=sum(r[0] for r in paid),
                orders_cancelled=len(cancelled),
                gmv_fen=sum(r[3] for r in paid),
                conversion_bp=rate_bp(len(paid), len(purchases)),
                sold_out_at=sold_out,
                seconds_to_sell_out=int((sold_out - starts_at).total_seconds()) if sold_out else None,
            )
        )
    return result
