"""Community figures through the gateway, fed by the real services' events over the real HTTP bus."""

from __future__ import annotations

from datetime import datetime

import httpx

from services.analytics.clients import HttpLeadersDirectory
from services.common.clock import local_date, utcnow
from services.common.testing import StaticServiceTokens, bearer
from tests.e2e.conftest import URLS, Deliveries, Wiring, customer, ok, ops, pay


async def test_a_leaders_community_figures_follow_joins_sign_ins_and_orders_across_services(
    e2e: httpx.AsyncClient, wiring: Wiring, deliveries: Deliveries
) -> None:
    analytics = wiring.apps["analytics"]
    analytics.state.leaders = HttpLeadersDirectory(
        URLS["leaders"], StaticServiceTokens("analytics"), timeout_seconds=5,
        client=wiring.client,
    )  # fmt: skip
    tz = analytics.state.settings.tz
    # The services date joins, sign-ins and orders by their own clocks: the figures are asked for every business day
    # the story ran on, which is one day unless the test runs across midnight in Shanghai.
    first_day = local_date(utcnow(), tz)
    pickup = {"name": "Gate 3 kiosk", "address": "3 Garden Road", "community": "Garden Court"}
    application = {"name": "Wang Fang", "phone": "13800001234", "pickup_point": pickup}
    for leader_id, manager_id in (("leader-wang", "manager-zhao"), ("leader-li", "manager-qian")):
        applied = ok(await e2e.post("/api/v1/leader-applications", headers=customer(leader_id), json=application), 201)
        url = f"/api/v1/leader-applications/{applied['id']}/approve"
        ok(await e2e.post(url, headers=ops(), json={"manager_id": manager_id}))
    for member in ("nb-1", "nb-2"):
        ok(await e2e.post("/api/v1/leaders/leader-wang/members", headers=customer(member)))
    ok(await e2e.post("/api/v1/points/sign-ins", headers=customer("nb-1")), 201)
    product = {"name": "Apples 2kg", "price_fen": 2000, "stock": 50}
    apples = ok(await e2e.post("/api/v1/products", headers=ops(), json=product), 201)
    order = ok(
        await e2e.post(
            "/api/v1/orders",
            headers=customer("nb-1") | {"Idempotency-Key": "analytics-1"},
            json={"leader_id": "leader-wang", "lines": [{"product_id": apples["id"], "quantity": 3}]},
        ),
        201,
    )
    await pay(e2e, wiring.apps["orders"], order, "tx-analytics-1")
    assert await wiring.deliver() > 0

    days = {"from": first_day.isoformat(), "to": local_date(utcnow(), tz).isoformat()}
    path = "/api/v1/leaders/leader-wang/community/stats"
    leader = bearer("leader-wang", ["leader"])
    stats = ok(await e2e.get(path, params=days, headers=leader))
    assert deliveries.services_for(path) == ["analytics"]  # routed past the leaders service's /api/v1/leaders
    assert (stats["members_joined"], stats["members_total"], stats["active_buyers"]) == (2, 2, 1)
    assert (stats["orders"], stats["gmv_fen"], stats["net_sales_fen"]) == (1, 6000, 6000)
    assert stats["conversion_bp"] == 5000
    activity = ok(await e2e.get("/api/v1/leaders/leader-wang/community/activity", headers=leader))
    assert sum(hour["sign_ins"] for hour in activity["hours"]) == 1

    # The manager named at approval reads it; another leader and another manager do not.
    assert (await e2e.get(path, headers=bearer("manager-zhao", ["manager"]))).status_code == 200
    assert (await e2e.get(path, headers=bearer("manager-qian", ["manager"]))).status_code == 403
    assert (await e2e.get(path, headers=bearer("leader-li", ["leader"]))).status_code == 403

    # The dashboard's "today" is the analytics clock's: held at the payment, it is the day the order counts on.
    paid_at = datetime.fromisoformat(
        ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=customer("nb-1")))["paid_at"]
    )
    analytics.state.clock = lambda: paid_at
    dashboard = ok(await e2e.get("/api/v1/leaders/leader-wang/dashboard", headers=leader))
    assert (dashboard["today"]["orders"], dashboard["today"]["members_total"]) == (1, 2)
    assert dashboard["rank"]["rank"] == 1 and dashboard["rank"]["leaders_ranked"] == 2
    assert dashboard["commission"] == {"pending_fen": 0, "available_fen": 0}  # no commission rule set

    # Every event delivered a second time changes nothing.
    await wiring.redeliver_everything()
    assert ok(await e2e.get(path, params=days, headers=leader)) == stats
