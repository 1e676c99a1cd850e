"""Every figure of the scripted week (tests/analytics/scenario.py) against the value worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import asgi_client
from tests.analytics.conftest import OPS, Feed, leader, local, manager, ok
from tests.analytics.scenario import scripted_week

WEEK = {"from": "2025-03-03", "to": "2025-03-07"}


@pytest.fixture
async def week(feed: Feed) -> Feed:
    await scripted_week(feed)
    return feed


async def stats(client: httpx.AsyncClient, leader_id: str = "l1", **params: str) -> Any:
    return ok(await client.get(f"/api/v1/leaders/{leader_id}/community/stats", params=WEEK | params, headers=OPS))


async def test_community_stats_of_the_week_match_the_hand_count(week: Feed, client: httpx.AsyncClient) -> None:
    body = await stats(client)
    # Joins: u1 u2 u3 (Mon), u4 (Tue), u5 and u3 again (Thu) = 6; leaves: u2 (Wed), u3 (Thu) = 2.
    # Members now: u1 u3 u4 u5. Nobody was a member before Monday, so churn over the week has no base: 0.
    assert body["members_at_start"] == 0
    assert (body["members_joined"], body["members_left"], body["net_growth"], body["members_total"]) == (6, 2, 4, 4)
    assert body["churn_rate_bp"] == 0
    # Paid at l1: 101 (3000) 102 (1000) 103 (2000) 104 (1500) 105 (1000); refunds 1000 (Wed) + 1000 (Thu).
    assert (body["orders"], body["gmv_fen"], body["refunds_fen"], body["net_sales_fen"]) == (5, 8500, 2000, 6500)
    assert body["aov_fen"] == 8500 // 5
    # Buyers u1 (3 orders), u2, u5 (bought before joining: still a buyer of l1); u2 has left since and still counts.
    assert (body["active_buyers"], body["repeat_buyers"]) == (3, 1)
    assert body["conversion_bp"] == 3 * 10_000 // 4  # 7500
    assert body["repeat_rate_bp"] == 1 * 10_000 // 3  # 3333, rounded down
    assert (body["orders_picked_up"], body["points_used"]) == (1, 100)
    assert body["referrals"] == 1  # u1 invited u6; u9's invitation belongs to l2
    assert body["top_products"] == [
        # Apples: 2 + 1 + 1 units for 4000, one unit refunded for 1000.
        {"product_id": 1, "name": "Apples", "lines": 3, "units": 4, "refunded_units": 1, "gmv_fen": 4000,
         "refunds_fen": 1000, "net_sales_fen": 3000},
        {"product_id": 2, "name": "Milk", "lines": 2, "units": 3, "refunded_units": 1, "gmv_fen": 3000,
         "refunds_fen": 1000, "net_sales_fen": 2000},
        {"product_id": 3, "name": "Eggs", "lines": 1, "units": 1, "refunded_units": 0, "gmv_fen": 1500,
         "refunds_fen": 0, "net_sales_fen": 1500},
    ]  # fmt: skip


async def test_each_day_of_the_week_has_its_own_row(week: Feed, client: httpx.AsyncClient) -> None:
    daily = {row["date"]: row for row in (await stats(client))["daily"]}
    figures = (
        "members_total", "members_joined", "members_left", "churn_rate_bp", "active_buyers", "conversion_bp",
        "repeat_rate_bp", "orders", "orders_picked_up", "gmv_fen", "refunds_fen", "net_sales_fen", "aov_fen",
    )  # fmt: skip
    expected = {
        # members, joins, leaves, churn (left ÷ members the day before), buyers, conversion, repeat, orders,
        # pickups, gmv, refunds, net, aov
        "2025-03-03": (3, 3, 0, 0, 2, 6666, 0, 2, 0, 4000, 0, 4000, 2000),
        "2025-03-04": (4, 1, 0, 0, 1, 2500, 0, 1, 1, 2000, 0, 2000, 2000),
        "2025-03-05": (3, 0, 1, 2500, 0, 0, 0, 0, 0, 0, 1000, -1000, 0),
        # u5's order at 00:30 local is Thursday's although it was still Wednesday in UTC.
        "2025-03-06": (4, 2, 1, 3333, 1, 2500, 0, 1, 0, 1500, 1000, 500, 1500),
        "2025-03-07": (4, 0, 0, 0, 1, 2500, 0, 1, 0, 1000, 0, 1000, 1000),
    }
    assert {day: tuple(row[f] for f in figures) for day, row in daily.items()} == expected
    assert [row["net_growth"] for row in daily.values()] == [3, 1, -1, 1, 0]


async def test_a_range_starting_later_counts_the_members_before_it(week: Feed, client: httpx.AsyncClient) -> None:
    body = await stats(client, **{"from": "2025-03-05", "to": "2025-03-06"})
    # Members at the end of Tuesday: u1 u2 u3 u4. Wed–Thu: u2 and u3 left (2), u5 and u3 joined (2).
    assert (body["members_at_start"], body["members_left"], body["members_joined"], body["members_total"]) == (
        4,
        2,
        2,
        4,
    )
    assert body["churn_rate_bp"] == 2 * 10_000 // 4
    # Wednesday: a 1000 refund and no sale; Thursday: 1500 sold, 1000 refunded.
    assert (body["active_buyers"], body["orders"], body["net_sales_fen"]) == (1, 1, -1000 + 500)


async def test_platform_overview_adds_every_community_and_counts_each_buyer_once(
    week: Feed, client: httpx.AsyncClient
) -> None:
    body = ok(await client.get("/api/v1/analytics/overview", params=WEEK, headers=OPS))
    assert body["leader_id"] is None
    assert (body["members_joined"], body["members_left"], body["members_total"]) == (7, 2, 5)
    assert (body["orders"], body["gmv_fen"], body["refunds_fen"], body["net_sales_fen"]) == (6, 13500, 2000, 11500)
    assert body["aov_fen"] == 13500 // 6
    assert (body["active_buyers"], body["repeat_buyers"], body["conversion_bp"], body["repeat_rate_bp"]) == (
        4,
        1,
        8000,
        2500,
    )
    assert body["referrals"] == 2
    assert [(p["product_id"], p["net_sales_fen"]) for p in body["top_products"]] == [(1, 8000), (2, 2000), (3, 1500)]


async def test_activity_by_hour_counts_orders_and_the_current_members_sign_ins(
    week: Feed, client: httpx.AsyncClient
) -> None:
    body = ok(await client.get("/api/v1/leaders/l1/community/activity", params=WEEK, headers=OPS))
    hours = {h["hour"]: (h["orders"], h["sign_ins"]) for h in body["hours"] if h["orders"] or h["sign_ins"]}
    # Orders paid at 20h, 21h, 12h, 0h, 9h; sign-ins of u1 (8h, 21h) and u4 (9h). u2 has left: not counted.
    assert hours == {0: (1, 0), 8: (0, 1), 9: (1, 1), 12: (1, 0), 20: (1, 0), 21: (1, 1)}
    platform = ok(await client.get("/api/v1/analytics/activity", params=WEEK, headers=OPS))
    assert platform["hours"][8]["sign_ins"] == 2 and platform["hours"][12]["orders"] == 2


async def test_dashboard_shows_today_this_month_commission_level_and_rank(
    week: Feed, client: httpx.AsyncClient, analytics_app: FastAPI
) -> None:
    body = ok(await client.get("/api/v1/leaders/l1/dashboard", headers=leader("l1")))
    assert body["as_of"] == "2025-03-07"
    assert body["today"] == {"members_total": 4, "members_joined": 0, "members_left": 0, "orders": 1,
                             "gmv_fen": 1000, "refunds_fen": 0, "net_sales_fen": 1000}  # fmt: skip
    assert body["month"] == {"month": "2025-03", "members_total": 4, "members_joined": 6, "members_left": 2,
                             "orders": 5, "gmv_fen": 8500, "refunds_fen": 2000, "net_sales_fen": 6500}  # fmt: skip
    assert body["commission"] == {"pending_fen": 1234, "available_fen": 5678}
    assert body["level"]["current"] == "silver" and body["level"]["next"] == "gold"
    assert body["level"]["progress_bp"] == 3000
    assert body["rank"] == {"month": "2025-03", "rank": 1, "leaders_ranked": 2}  # l1 6500 > l2 5000
    l2 = ok(await client.get("/api/v1/leaders/l2/dashboard", headers=manager("m2")))
    assert l2["rank"]["rank"] == 2
    assert analytics_app.state.leaders.calls == ["l1", "l2"]


async def test_ranking_orders_leaders_by_the_chosen_figure(week: Feed, client: httpx.AsyncClient) -> None:
    async def ranked(sort: str, headers: dict[str, str] = OPS) -> list[tuple[str, int, int, int]]:
        body = ok(await client.get("/api/v1/analytics/leaders", params=WEEK | {"sort": sort}, headers=headers))
        return [(r["leader_id"], r["net_sales_fen"], r["net_growth"], r["members_total"]) for r in body["leaders"]]

    assert await ranked("net_sales") == [("l1", 6500, 4, 4), ("l2", 5000, 1, 1)]
    assert await ranked("growth") == [("l1", 6500, 4, 4), ("l2", 5000, 1, 1)]
    assert [r[0] for r in await ranked("churn")] == ["l1", "l2"]  # both 0 (no members before Monday): by id
    assert await ranked("net_sales", manager("m2")) == [("l2", 5000, 1, 1)]


async def test_ranking_figures_equal_each_leaders_own_stats(week: Feed, client: httpx.AsyncClient) -> None:
    params = {"from": "2025-03-05", "to": "2025-03-06"}
    body = ok(await client.get("/api/v1/analytics/leaders", params=params, headers=OPS))
    for row in body["leaders"]:
        own = await stats(client, row["leader_id"], **params)
        for figure in ("members_at_start", "members_total", "members_joined", "members_left", "churn_rate_bp",
                       "orders", "gmv_fen", "refunds_fen", "net_sales_fen"):  # fmt: skip
            assert row[figure] == own[figure], (row["leader_id"], figure)


async def test_segments_of_the_community_today(analytics_app: FastAPI, make_app: Any, feed: Feed) -> None:
    # Short windows so one week shows every segment: new 3 days, dormant 2, churned 4, high value = top half.
    app = await make_app("analytics", new_member_days=3, dormant_days=2, churned_days=4, high_value_share_bp=5000)
    app.state.clock = analytics_app.state.clock
    await scripted_week(Feed(app))
    async with asgi_client(app) as client:
        body = ok(await client.get("/api/v1/leaders/l1/community/segments", headers=leader("l1")))
        counts = {s["segment"]: s["members"] for s in body["segments"]}
        # Today Fri 7th. all: u1 u3 u4 u5. new (joined after Tue 4th): u3 (rejoined Thu), u5. active (ordered after
        # Wed 5th): u1, u5. dormant (last activity on or before Wed 5th, after Mon 3rd): u4 (joined Tue, no order).
        # churned: u2 (left). high value: net sales > 0 are u1 (4000) and u5 (1500); the top half is u1.
        assert counts == {"all": 4, "new": 2, "active": 2, "dormant": 1, "churned": 1, "high_value": 1}

        churned = ok(await client.get("/api/v1/leaders/l1/community/segments/churned/members", headers=leader("l1")))
        assert [(m["customer_id"], m["left_on"], m["last_order_on"], m["net_sales_fen"]) for m in churned["items"]] == [
            ("u2", "2025-03-05", "2025-03-03", 1000)
        ]
        first = ok(await client.get("/api/v1/leaders/l1/community/segments/all/members?limit=2", headers=OPS))
        assert [m["customer_id"] for m in first["items"]] == ["u1", "u5"]  # most net sales first
        assert first["items"][0]["net_sales_fen"] == 4000 and first["items"][0]["orders"] == 3
        second = ok(
            await client.get(
                "/api/v1/leaders/l1/community/segments/all/members",
                params={"limit": 2, "cursor": first["next_cursor"]},
                headers=OPS,
            )
        )
        assert [m["customer_id"] for m in second["items"]] == ["u3", "u4"] and second["next_cursor"] is None
        u3 = second["items"][0]
        assert (u3["first_joined_on"], u3["joined_on"], u3["is_member"]) == ("2025-03-03", "2025-03-06", True)


async def test_cohorts_show_the_share_of_each_join_week_buying_in_the_weeks_after(
    feed: Feed, client: httpx.AsyncClient, analytics_app: FastAPI
) -> None:
    await feed.leader_updated("l1", manager_id="m1", at=local_day(1))
    # Week of 17 Feb: a, b, c join; week of 24 Feb: d joins. Purchases: a in weeks 0 and 2, b in week 1, d in week 0.
    for customer, day in (("a", 17), ("b", 18), ("c", 19)):
        await feed.join("l1", customer, local_feb(day))
    await feed.join("l1", "d", local_feb(25))
    await feed.paid(1, "l1", "a", [(1, "Apples", 1, 100)], local_feb(20))
    await feed.paid(2, "l1", "b", [(1, "Apples", 1, 100)], local_feb(26))
    await feed.paid(3, "l1", "d", [(1, "Apples", 1, 100)], local_feb(27))
    await feed.paid(4, "l1", "a", [(1, "Apples", 1, 100)], local_day(4))
    body = ok(await client.get("/api/v1/leaders/l1/community/cohorts?weeks=3", headers=leader("l1")))
    cohorts = {c["week_start"]: (c["members"], [(w["week"], w["buyers"], w["retention_bp"]) for w in c["weeks"]])
               for c in body["cohorts"]}  # fmt: skip
    assert cohorts == {
        "2025-02-17": (3, [(0, 1, 3333), (1, 1, 3333), (2, 1, 3333)]),
        "2025-02-24": (1, [(0, 1, 10_000), (1, 0, 0)]),
        "2025-03-03": (0, [(0, 0, 0)]),
    }


def local_feb(day: int) -> datetime:
    return local(2025, 2, day, 12)


def local_day(day: int) -> datetime:
    return local(2025, 3, day, 12)


async def test_flash_sale_figures_count_purchases_payments_and_time_to_sell_out(
    feed: Feed, client: httpx.AsyncClient
) -> None:
    start = local_day(7).replace(hour=1)  # 09:00 local
    await feed.flash_sale(7, stock=3, starts_at=start)
    minute = timedelta(minutes=1)
    await feed.placed(106, "l1", "u4", 1, start + minute / 6, flash_sale_id=7)
    await feed.placed(107, "l1", "u1", 2, start + minute, flash_sale_id=7)  # 3 units held: sold out one minute in
    await feed.paid(107, "l1", "u1", [(9, "Durian", 2, 200)], start + 2 * minute, flash_sale_id=7)
    await feed.cancelled(106, "l1", "u4", start + 5 * minute)
    await feed.placed(108, "l2", "u9", 1, start + 6 * minute, flash_sale_id=7)
    await feed.paid(108, "l2", "u9", [(9, "Durian", 1, 100)], start + 7 * minute, flash_sale_id=7)
    body = ok(await client.get("/api/v1/analytics/flash-sales", params={"from": "2025-03-07", "to": "2025-03-07"},
                               headers=OPS))  # fmt: skip
    [sale] = body["sales"]
    assert (sale["orders_placed"], sale["units_placed"], sale["orders_paid"], sale["units_sold"]) == (3, 4, 2, 3)
    assert (sale["orders_cancelled"], sale["gmv_fen"], sale["conversion_bp"]) == (1, 300, 2 * 10_000 // 3)
    assert sale["seconds_to_sell_out"] == 60 and sale["product_name"] == "Durian"


async def test_alerts_name_leaders_whose_buyers_fell_or_whose_leaving_rose(
    make_app: Any, analytics_app: FastAPI
) -> None:
    app = await make_app("analytics", alert_min_buyers=2, alert_buyers_drop_bp=5000, alert_leave_rate_rise_bp=1000)
    app.state.clock = analytics_app.state.clock  # Friday 7 March: the last full week is 24 Feb – 2 Mar
    feed = Feed(app)
    for leader_id, manager_id in (("la", "m1"), ("lb", "m1"), ("lc", "m2")):
        await feed.leader_updated(leader_id, manager_id=manager_id, at=local_feb(1))
        for i in range(10):
            await feed.join(leader_id, f"{leader_id}-{i}", local_feb(10))
    order_id = iter(range(1, 1000))
    for i in range(4):  # la: 4 buyers the week of 17 Feb, 1 the week of 24 Feb (-75 %)
        await feed.paid(next(order_id), "la", f"la-{i}", [(1, "Apples", 1, 100)], local_feb(18))
    await feed.paid(next(order_id), "la", "la-0", [(1, "Apples", 1, 100)], local_feb(25))
    for i in range(2):  # lb: 2 buyers both weeks; 2 of 10 members left last week, none the week before (+20 pp)
        await feed.paid(next(order_id), "lb", f"lb-{i}", [(1, "Apples", 1, 100)], local_feb(18))
        await feed.paid(next(order_id), "lb", f"lb-{i}", [(1, "Apples", 1, 100)], local_feb(26))
    await feed.leave("lb", "lb-8", local_feb(27))
    await feed.leave("lb", "lb-9", local_feb(28))
    await feed.leave("lc", "lc-9", local_feb(27))  # lc: 1 of 10 left (+10 pp) and buyers 0 -> 0 (below the minimum)
    async with asgi_client(app) as client:
        body = ok(await client.get("/api/v1/analytics/alerts", headers=OPS))
        assert (body["week_start"], body["previous_week_start"]) == ("2025-02-24", "2025-02-17")
        found = {a["leader_id"]: a for a in body["alerts"]}
        assert sorted(found) == ["la", "lb", "lc"]
        assert found["la"]["reasons"] == ["active_buyers_fell"]
        assert (found["la"]["active_buyers_previous"], found["la"]["active_buyers"]) == (4, 1)
        assert found["la"]["active_buyers_drop_bp"] == 7500
        assert found["lb"]["reasons"] == ["leave_rate_rose"] and found["lb"]["leave_rate_bp"] == 2000
        assert found["lc"]["reasons"] == ["leave_rate_rose"] and found["lc"]["leave_rate_bp"] == 1000
        mine = ok(await client.get("/api/v1/analytics/alerts", params={"week": "2025-02-26"}, headers=manager("m2")))
        assert [a["leader_id"] for a in mine["alerts"]] == ["lc"]
