"""Who reads which figures, and what the endpoints refuse."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from services.analytics.clients import HttpLeadersDirectory
from services.common.testing import StaticServiceTokens, bearer
from tests.analytics.conftest import OPS, Feed, leader, local, manager, ok

LEADER_PATHS = [
    "/api/v1/leaders/{}/community/stats",
    "/api/v1/leaders/{}/community/cohorts",
    "/api/v1/leaders/{}/community/activity",
    "/api/v1/leaders/{}/community/segments",
    "/api/v1/leaders/{}/community/segments/dormant/members",
    "/api/v1/leaders/{}/community/stats.csv",
    "/api/v1/leaders/{}/community/chart.png",
    "/api/v1/leaders/{}/dashboard",
]


@pytest.fixture
async def two_communities(feed: Feed) -> None:
    await feed.leader_updated("l1", manager_id="m1", at=local(2025, 3, 1))
    await feed.leader_updated("l2", manager_id="m2", at=local(2025, 3, 1))
    await feed.join("l1", "u1", local(2025, 3, 3))
    await feed.join("l2", "u2", local(2025, 3, 3))


@pytest.mark.parametrize("path", LEADER_PATHS)
async def test_a_leader_reads_their_own_community_and_no_other(
    two_communities: None, client: httpx.AsyncClient, path: str
) -> None:
    assert (await client.get(path.format("l1"), headers=leader("l1"))).status_code == 200
    refused = await client.get(path.format("l2"), headers=leader("l1"))
    assert refused.status_code == 403 and refused.json()["code"] == "NOT_YOUR_COMMUNITY"
    # A customer token whose sub is the leader id is not a leader.
    assert (await client.get(path.format("l1"), headers=bearer("l1", ["customer"]))).status_code == 403
    assert (await client.get(path.format("l1"))).status_code == 401


@pytest.mark.parametrize("path", LEADER_PATHS)
async def test_a_manager_reads_only_the_leaders_they_manage(
    two_communities: None, client: httpx.AsyncClient, path: str
) -> None:
    assert (await client.get(path.format("l1"), headers=manager("m1"))).status_code == 200
    assert (await client.get(path.format("l2"), headers=manager("m1"))).status_code == 403
    assert (await client.get(path.format("l2"), headers=manager("m2"))).status_code == 200


async def test_a_manager_who_hands_a_leader_over_loses_access(
    two_communities: None, feed: Feed, client: httpx.AsyncClient
) -> None:
    await feed.leader_updated("l1", manager_id="m2", at=local(2025, 3, 5))
    assert (await client.get("/api/v1/leaders/l1/community/stats", headers=manager("m1"))).status_code == 403
    assert (await client.get("/api/v1/leaders/l1/community/stats", headers=manager("m2"))).status_code == 200
    # A replayed older state never undoes the newer one.
    await feed.leader_updated("l1", manager_id="m1", at=local(2025, 3, 2))
    assert (await client.get("/api/v1/leaders/l1/community/stats", headers=manager("m1"))).status_code == 403


async def test_ops_read_every_community_and_an_unknown_leader_is_404(
    two_communities: None, client: httpx.AsyncClient
) -> None:
    for leader_id in ("l1", "l2"):
        assert (await client.get(f"/api/v1/leaders/{leader_id}/community/stats", headers=OPS)).status_code == 200
    missing = await client.get("/api/v1/leaders/nobody/community/stats", headers=OPS)
    assert missing.status_code == 404 and missing.json()["code"] == "LEADER_NOT_FOUND"
    # To anyone else, an unknown leader is just not theirs: ids cannot be probed.
    assert (await client.get("/api/v1/leaders/nobody/community/stats", headers=leader("l1"))).status_code == 403


@pytest.mark.parametrize(
    "path",
    ["/api/v1/analytics/overview", "/api/v1/analytics/flash-sales", "/api/v1/analytics/activity"],
)
async def test_platform_figures_are_for_ops_only(two_communities: None, client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path, headers=OPS)).status_code == 200
    for headers in (leader("l1"), manager("m1"), bearer("u1", ["customer"])):
        assert (await client.get(path, headers=headers)).status_code == 403


async def test_rankings_and_alerts_are_for_ops_and_managers(two_communities: None, client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/analytics/leaders", "/api/v1/analytics/alerts"):
        assert (await client.get(path, headers=leader("l1"))).status_code == 403
        assert (await client.get(path, headers=manager("m1"))).status_code == 200
    ranked = ok(await client.get("/api/v1/analytics/leaders", headers=manager("m1")))
    assert [row["leader_id"] for row in ranked["leaders"]] == ["l1"]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/leaders/l1/community/stats", "form=2025-03-01"),  # a misspelt parameter
        ("/api/v1/leaders/l1/community/stats", "from=2025-03-01&limit=5"),
        ("/api/v1/leaders/l1/community/stats.csv", "sort=growth"),
        ("/api/v1/leaders/l1/community/cohorts", "week=3"),
        ("/api/v1/leaders/l1/community/segments", "segment=new"),
        ("/api/v1/leaders/l1/community/segments/new/members", "page=2"),
        ("/api/v1/leaders/l1/community/chart.png", "format=csv"),
        ("/api/v1/leaders/l1/dashboard", "month=2025-03"),
        ("/api/v1/analytics/overview", "leader_id=l1"),
        ("/api/v1/analytics/leaders", "order=net_sales"),
        ("/api/v1/analytics/alerts", "threshold=1"),
        ("/api/v1/analytics/flash-sales", "sale=7"),
        # A route without a query model: refused by the app-wide rule (`services.common.query_names`).
        ("/api/v1/customers/u1/tags", "tag=vip"),
    ],
)
async def test_unknown_query_parameters_are_refused(
    two_communities: None, client: httpx.AsyncClient, path: str, query: str
) -> None:
    response = await client.get(f"{path}?{query}", headers=OPS)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("from=2025-03-07&to=2025-03-01", "INVALID_RANGE"),  # backwards
        ("from=2024-03-01&to=2025-03-02", "INVALID_RANGE"),  # 367 days
        ("from=2025-02-30", "VALIDATION_ERROR"),
        ("from=yesterday", "VALIDATION_ERROR"),
        ("format=xlsx", "VALIDATION_ERROR"),
        ("sort=random", "VALIDATION_ERROR"),
        ("limit=0", "VALIDATION_ERROR"),
    ],
)
async def test_ranges_formats_and_sorts_are_bounded(
    two_communities: None, client: httpx.AsyncClient, query: str, code: str
) -> None:
    response = await client.get(f"/api/v1/analytics/leaders?{query}", headers=OPS)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code


async def test_a_full_year_is_the_longest_range(two_communities: None, client: httpx.AsyncClient) -> None:
    body = ok(await client.get("/api/v1/leaders/l1/community/stats?from=2024-03-07&to=2025-03-07", headers=OPS))
    assert len(body["daily"]) == 366


async def test_without_a_range_the_last_thirty_days_are_shown(two_communities: None, client: httpx.AsyncClient) -> None:
    body = ok(await client.get("/api/v1/leaders/l1/community/stats", headers=OPS))
    assert (body["from"], body["to"], len(body["daily"])) == ("2025-02-06", "2025-03-07", 30)


async def test_an_unknown_segment_and_a_forged_cursor_are_refused(
    two_communities: None, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/api/v1/leaders/l1/community/segments/vip/members", headers=OPS)).status_code == 422
    forged = await client.get("/api/v1/leaders/l1/community/segments/all/members?cursor=WzFd", headers=OPS)
    assert forged.status_code == 422 and forged.json()["code"] == "INVALID_CURSOR"


async def test_the_dashboard_says_503_when_the_leaders_service_does_not_answer(
    two_communities: None, client: httpx.AsyncClient, analytics_app: FastAPI
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    analytics_app.state.leaders = HttpLeadersDirectory(
        "http://leaders",
        StaticServiceTokens("analytics"),
        timeout_seconds=1,
        client=httpx.AsyncClient(transport=httpx.MockTransport(refuse)),
    )
    response = await client.get("/api/v1/leaders/l1/dashboard", headers=leader("l1"))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "LEADERS_UNAVAILABLE"


async def test_the_dashboard_reads_the_real_leaders_summary(
    two_communities: None, client: httpx.AsyncClient, analytics_app: FastAPI, leaders_app: FastAPI
) -> None:
    from tests.leaders.conftest import make_leader

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=leaders_app), base_url="http://leaders") as http:
        await make_leader(http, "l1", manager_id="m1")
        analytics_app.state.leaders = HttpLeadersDirectory(
            "http://leaders",
            StaticServiceTokens("analytics"),
            timeout_seconds=5,
            client=http,
        )
        body = ok(await client.get("/api/v1/leaders/l1/dashboard", headers=manager("m1")))
    assert body["commission"] == {"pending_fen": 0, "available_fen": 0}
    assert body["level"]["current"] is None and body["level"]["next"] is None  # no levels configured
    assert body["today"]["members_total"] == 1
