"""Several business days of one community through the gateway, on the real services and the real HTTP bus, with
every service's injected clock moved from day to day: each figure of the community stats equals what
docs/metrics.md's definitions give when applied by hand to the script below."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from services.analytics.clients import HttpLeadersDirectory
from services.common.testing import StaticServiceTokens, bearer
from tests.e2e.conftest import URLS, Wiring, customer, ok, ops, pay

TZ = ZoneInfo("Asia/Shanghai")  # BUSINESS_TIMEZONE's default, which every app of the fixtures keeps
DAYS = [date(2026, 3, 2) + timedelta(days=n) for n in range(4)]  # Monday 2 March .. Thursday 5 March
LEADER, OTHER_LEADER = "leader-days", "leader-days-other"
MANAGER, OTHER_MANAGER = "manager-days", "manager-days-other"
PRICES = {"Apples 2kg": 2000, "Pears 1kg": 1500}


class MovableClock:
    """One clock for every service app: the script sets the local moment each step happens at."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: date, hour: int) -> None:
        self.now = datetime.combine(day, time(hour), tzinfo=TZ).astimezone(UTC)


@dataclass(frozen=True)
class Paid:
    day: date
    buyer: str
    product: str
    units: int

    @property
    def fen(self) -> int:
        return PRICES[self.product] * self.units


@dataclass(frozen=True)
class Refund:
    day: date
    product: str
    units: int

    @property
    def fen(self) -> int:  # no points were spent, so a refunded unit returns exactly its price
        return PRICES[self.product] * self.units


@dataclass
class Script:
    """What happened, as the test's own record: the expected figures are computed from this alone."""

    joins: list[tuple[date, str]]
    leaves: list[tuple[date, str]]
    paid: list[Paid]
    refunds: list[Refund]


def rate_bp(numerator: int, denominator: int) -> int:
    return numerator * 10_000 // denominator if denominator else 0


def members_at(script: Script, day: date) -> int:
    """Members at the end of `day`: joined on or before it and not left on or before it (one span per person here)."""
    left = {who for when, who in script.leaves if when <= day}
    return len({who for when, who in script.joins if when <= day} - left)


def expected(script: Script, first: date, last: date) -> dict[str, Any]:
    def within(day: date) -> bool:
        return first <= day <= last

    joined = sum(1 for day, _ in script.joins if within(day))
    left = sum(1 for day, _ in script.leaves if within(day))
    at_start = members_at(script, first - timedelta(days=1))
    total = members_at(script, last)
    paid = [p for p in script.paid if within(p.day)]
    refunds = [r for r in script.refunds if within(r.day)]
    per_buyer: dict[str, int] = {}
    for p in paid:
        per_buyer[p.buyer] = per_buyer.get(p.buyer, 0) + 1
    buyers, repeat = len(per_buyer), sum(1 for n in per_buyer.values() if n >= 2)
    gmv, refunded = sum(p.fen for p in paid), sum(r.fen for r in refunds)
    return {
        "members_at_start": at_start,
        "members_total": total,
        "members_joined": joined,
        "members_left": left,
        "net_growth": joined - left,
        "churn_rate_bp": rate_bp(left, at_start),
        "active_buyers": buyers,
        "conversion_bp": rate_bp(buyers, total),
        "repeat_rate_bp": rate_bp(repeat, buyers),
        "orders": len(paid),
        "gmv_fen": gmv,
        "refunds_fen": refunded,
        "net_sales_fen": gmv - refunded,
        "aov_fen": gmv // len(paid) if paid else 0,
    }


def expected_top_products(script: Script, first: date, last: date, ids: dict[str, int]) -> list[dict[str, Any]]:
    rows = []
    for product, product_id in ids.items():
        paid = [p for p in script.paid if p.product == product and first <= p.day <= last]
        refunds = [r for r in script.refunds if r.product == product and first <= r.day <= last]
        if not paid and not refunds:
            continue
        gmv, refunded = sum(p.fen for p in paid), sum(r.fen for r in refunds)
        rows.append(
            {
                "product_id": product_id,
                "name": product,
                "lines": len(paid),  # one line per order in this script
                "units": sum(p.units for p in paid),
                "refunded_units": sum(r.units for r in refunds),
                "gmv_fen": gmv,
                "refunds_fen": refunded,
                "net_sales_fen": gmv - refunded,
            }
        )
    # Ranked by net sales, highest first; ties by product id.
    return sorted(rows, key=lambda row: (-row["net_sales_fen"], row["product_id"]))


async def test_a_communitys_figures_over_four_days_equal_the_definitions_applied_by_hand(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    clock = MovableClock()
    # Every app whose facts the figures date. Not accounts: it stamps the service tokens it issues with its clock,
    # and the other services check their expiry against the wall clock, so tokens issued "in March" would be refused.
    for name, app in wiring.apps.items():
        if name != "accounts":
            app.state.clock = clock
    analytics = wiring.apps["analytics"]
    analytics.state.leaders = HttpLeadersDirectory(
        URLS["leaders"], StaticServiceTokens("analytics"), timeout_seconds=5, client=wiring.client
    )

    clock.at(DAYS[0], 8)
    pickup = {"name": "Gate 3 kiosk", "address": "3 Garden Road", "community": "Garden Court"}
    application = {"name": "Wang Fang", "phone": "13800001234", "pickup_point": pickup}
    for leader_id, manager_id in ((LEADER, MANAGER), (OTHER_LEADER, OTHER_MANAGER)):
        applied = ok(await e2e.post("/api/v1/leader-applications", headers=customer(leader_id), json=application), 201)
        url = f"/api/v1/leader-applications/{applied['id']}/approve"
        ok(await e2e.post(url, headers=ops(), json={"manager_id": manager_id}))
    ids = {}
    for name, price in PRICES.items():
        product = {"name": name, "price_fen": price, "stock": 100}
        ids[name] = ok(await e2e.post("/api/v1/products", headers=ops(), json=product), 201)["id"]

    script = Script(joins=[], leaves=[], paid=[], refunds=[])
    orders: dict[str, dict[str, Any]] = {}

    async def join(day: date, who: str) -> None:
        ok(await e2e.post(f"/api/v1/leaders/{LEADER}/members", headers=customer(who)))
        script.joins.append((day, who))

    async def leave(day: date, who: str) -> None:
        ok(await e2e.delete(f"/api/v1/leaders/{LEADER}/members/me", headers=customer(who)), 204)
        script.leaves.append((day, who))

    async def sign_in(who: str) -> None:
        ok(await e2e.post("/api/v1/points/sign-ins", headers=customer(who)), 201)

    async def buy(key: str, day: date, who: str, product: str, units: int) -> None:
        lines = [{"product_id": ids[product], "quantity": units}]
        order = ok(
            await e2e.post(
                "/api/v1/orders",
                headers=customer(who) | {"Idempotency-Key": f"days-{key}"},
                json={"leader_id": LEADER, "lines": lines},
            ),
            201,
        )
        await pay(e2e, wiring.apps["orders"], order, f"tx-days-{key}")
        orders[key] = order
        script.paid.append(Paid(day, who, product, units))

    async def refund(key: str, day: date, product: str, units: int) -> None:
        order = orders[key]
        (line,) = order["lines"]
        owner = customer(order["customer_id"]) | {"Idempotency-Key": f"days-refund-{key}"}
        body = {"lines": [{"line_id": line["id"], "quantity": units}], "reason": "bruised"}
        made = ok(await e2e.post(f"/api/v1/orders/{order['id']}/refunds", headers=owner, json=body), 201)
        assert made["refund_fen"] == PRICES[product] * units
        script.refunds.append(Refund(day, product, units))

    # Day 1: three people join; two of them buy; one signs in.
    day = DAYS[0]
    clock.at(day, 10)
    for who in ("m1", "m2", "m3"):
        await join(day, who)
    await sign_in("m1")
    clock.at(day, 19)
    await buy("a", day, "m1", "Apples 2kg", 3)
    await buy("b", day, "m3", "Pears 1kg", 1)
    await wiring.deliver()

    # Day 2: one more joins and buys twice; m1 buys again (a repeat buyer over the range only); two sign-ins.
    day = DAYS[1]
    clock.at(day, 9)
    await join(day, "m4")
    await sign_in("m1")
    await sign_in("m2")
    clock.at(day, 20)
    await buy("c", day, "m1", "Apples 2kg", 1)
    await buy("d", day, "m4", "Pears 1kg", 2)
    clock.at(day, 22)
    await buy("f", day, "m4", "Apples 2kg", 1)  # a repeat buyer within the day
    await wiring.deliver()

    # Day 3: m3 (a buyer of day 1) leaves; m2 buys; m1 has one apple of day 1's order refunded.
    day = DAYS[2]
    clock.at(day, 11)
    await leave(day, "m3")
    await sign_in("m4")
    await buy("e", day, "m2", "Apples 2kg", 2)
    clock.at(day, 15)
    await refund("a", day, "Apples 2kg", 1)
    await wiring.deliver()

    # Day 4: someone joins and leaves the same day (not a member at its end); a sign-in; no sales.
    day = DAYS[3]
    clock.at(day, 10)
    await join(day, "m5")
    await sign_in("m2")
    clock.at(day, 18)
    await leave(day, "m5")
    assert await wiring.deliver() > 0

    path = f"/api/v1/leaders/{LEADER}/community/stats"
    span = {"from": DAYS[0].isoformat(), "to": DAYS[-1].isoformat()}
    stats = ok(await e2e.get(path, params=span, headers=bearer(LEADER, ["leader"])))
    want = expected(script, DAYS[0], DAYS[-1])
    assert {name: stats[name] for name in want} == want
    assert stats["top_products"] == expected_top_products(script, DAYS[0], DAYS[-1], ids)
    daily_columns = [*want.keys() - {"members_at_start"}]
    assert [row["date"] for row in stats["daily"]] == [d.isoformat() for d in DAYS]
    for row, one_day in zip(stats["daily"], DAYS, strict=True):
        # A day's churn rate is left ÷ members at the end of the previous day, i.e. at the start of the one-day range.
        assert {name: row[name] for name in daily_columns} == {
            name: value for name, value in expected(script, one_day, one_day).items() if name in daily_columns
        }, one_day

    # A narrower range starts from the members of the day before it, and counts refunds by their own date.
    later = {"from": DAYS[1].isoformat(), "to": DAYS[2].isoformat()}
    narrow = ok(await e2e.get(path, params=later, headers=bearer(LEADER, ["leader"])))
    want_later = expected(script, DAYS[1], DAYS[2])
    assert {name: narrow[name] for name in want_later} == want_later

    # The sign-ins landed on the days they happened (the activity by hour counts those of current members).
    activity = ok(
        await e2e.get(f"/api/v1/leaders/{LEADER}/community/activity", params=span, headers=bearer(LEADER, ["leader"]))
    )
    # m1 on days 1 and 2, m2 on days 2 and 4, m4 on day 3 (m3 and m5, who left, signed in never).
    assert sum(hour["sign_ins"] for hour in activity["hours"]) == 2 + 2 + 1

    # Another leader does not read these figures; the manager named at approval does, another manager does not.
    other_leader = bearer(OTHER_LEADER, ["leader"])
    other = await e2e.get(path, params=span, headers=other_leader)
    assert (other.status_code, other.json()["code"]) == (403, "NOT_YOUR_COMMUNITY"), other.text
    own = ok(await e2e.get(f"/api/v1/leaders/{OTHER_LEADER}/community/stats", params=span, headers=other_leader))
    assert (own["members_total"], own["orders"], own["gmv_fen"], own["top_products"]) == (0, 0, 0, [])
    assert ok(await e2e.get(path, params=span, headers=bearer(MANAGER, ["manager"]))) == stats
    stranger = await e2e.get(path, params=span, headers=bearer(OTHER_MANAGER, ["manager"]))
    assert (stranger.status_code, stranger.json()["code"]) == (403, "NOT_YOUR_COMMUNITY"), stranger.text
