"""Communities: join, switch (when allowed), leave, with history and events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text, update

from services.common.clock import utcnow
from services.common.testing import asgi_client, bearer
from services.leaders.communities.models import Membership
from tests.leaders.conftest import OPS, leader_headers, make_leader

C1 = bearer("c1", ["customer"])


async def members(client: httpx.AsyncClient, leader_id: str) -> list[str]:
    response = await client.get(f"/api/v1/leaders/{leader_id}/members", headers=OPS)
    assert response.status_code == 200, response.text
    return [m["customer_id"] for m in response.json()["items"]]


async def outbox_events(app: FastAPI) -> list[tuple[str, str, str]]:
    async with app.state.db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT type, aggregate, data FROM outbox ORDER BY seq"))).all()
    result = []
    for row in rows:
        data = row.data if isinstance(row.data, dict) else __import__("json").loads(row.data)
        if row.type.startswith("leader.member"):
            result.append((row.type, row.aggregate, data["leader_id"]))
    return result


@pytest.fixture
async def two_leaders(leaders_client: httpx.AsyncClient) -> None:
    await make_leader(leaders_client, "l1")
    await make_leader(leaders_client, "l2")


async def test_join_switch_and_leave_are_kept_as_history_and_published(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, two_leaders: None
) -> None:
    joined = await leaders_client.post("/api/v1/leaders/l1/members", headers=C1)
    assert joined.status_code == 200, joined.text
    assert joined.json()["leader_id"] == "l1" and joined.json()["switched_from"] is None
    assert await members(leaders_client, "l1") == ["c1"]

    switched = await leaders_client.post("/api/v1/leaders/l2/members", headers=C1)
    assert switched.status_code == 200 and switched.json()["switched_from"] == "l1"
    assert await members(leaders_client, "l1") == [] and await members(leaders_client, "l2") == ["c1"]

    left = await leaders_client.delete("/api/v1/leaders/l2/members/me", headers=C1)
    assert left.status_code == 204
    assert await members(leaders_client, "l2") == []

    l1_history = (await leaders_client.get("/api/v1/leaders/l1/members/history", headers=OPS)).json()["items"]
    l2_history = (await leaders_client.get("/api/v1/leaders/l2/members/history", headers=OPS)).json()["items"]
    assert [(h["action"], h["reason"]) for h in reversed(l1_history)] == [("joined", "join"), ("left", "switch")]
    assert [(h["action"], h["reason"]) for h in reversed(l2_history)] == [("joined", "switch"), ("left", "leave")]
    assert await outbox_events(leaders_app) == [
        ("leader.member_joined", "member:c1", "l1"),
        ("leader.member_left", "member:c1", "l1"),
        ("leader.member_joined", "member:c1", "l2"),
        ("leader.member_left", "member:c1", "l2"),
    ]


async def test_joining_the_same_community_again_changes_nothing(
    leaders_client: httpx.AsyncClient, leaders_app: FastAPI, two_leaders: None
) -> None:
    first = await leaders_client.post("/api/v1/leaders/l1/members", headers=C1)
    again = await leaders_client.post("/api/v1/leaders/l1/members", headers=C1)
    assert again.status_code == 200 and again.json()["joined_at"] == first.json()["joined_at"]
    assert len(await outbox_events(leaders_app)) == 1


async def test_switching_can_be_disallowed(make_app: Any) -> None:
    app = await make_app("leaders", community_switching_allowed=False)
    async with asgi_client(app) as client:
        await make_leader(client, "l1")
        await make_leader(client, "l2")
        await client.post("/api/v1/leaders/l1/members", headers=C1)
        refused = await client.post("/api/v1/leaders/l2/members", headers=C1)
        assert refused.status_code == 409 and refused.json()["code"] == "SWITCHING_NOT_ALLOWED"
        assert await members(client, "l1") == ["c1"]


async def test_membership_is_locked_for_the_configured_days_after_joining(make_app: Any) -> None:
    app = await make_app("leaders", community_switch_lock_days=30)
    async with asgi_client(app) as client:
        await make_leader(client, "l1")
        await make_leader(client, "l2")
        await client.post("/api/v1/leaders/l1/members", headers=C1)
        locked = await client.post("/api/v1/leaders/l2/members", headers=C1)
        assert locked.status_code == 409 and locked.json()["code"] == "MEMBERSHIP_LOCKED"
        assert (await client.delete("/api/v1/leaders/l1/members/me", headers=C1)).status_code == 409
        # Thirty-one days later the lock has passed.
        async with app.state.db.sessionmaker() as session, session.begin():
            await session.exec(update(Membership).values(joined_at=utcnow() - timedelta(days=31)))
        assert (await client.post("/api/v1/leaders/l2/members", headers=C1)).status_code == 200


async def test_a_suspended_leader_takes_no_new_members(leaders_client: httpx.AsyncClient, two_leaders: None) -> None:
    await leaders_client.patch("/api/v1/leaders/l1", json={"status": "suspended"}, headers=OPS)
    refused = await leaders_client.post("/api/v1/leaders/l1/members", headers=C1)
    assert refused.status_code == 409 and refused.json()["code"] == "LEADER_SUSPENDED"
    missing = await leaders_client.post("/api/v1/leaders/nobody/members", headers=C1)
    assert missing.status_code == 404


async def test_leaving_a_community_you_are_not_in_is_404(leaders_client: httpx.AsyncClient, two_leaders: None) -> None:
    await leaders_client.post("/api/v1/leaders/l1/members", headers=C1)
    response = await leaders_client.delete("/api/v1/leaders/l2/members/me", headers=C1)
    assert response.status_code == 404 and response.json()["code"] == "NOT_A_MEMBER"


async def test_a_leader_sees_only_their_own_members(leaders_client: httpx.AsyncClient, two_leaders: None) -> None:
    await leaders_client.post("/api/v1/leaders/l1/members", headers=C1)
    own = await leaders_client.get("/api/v1/leaders/l1/members", headers=leader_headers("l1"))
    assert own.status_code == 200 and [m["customer_id"] for m in own.json()["items"]] == ["c1"]
    other = await leaders_client.get("/api/v1/leaders/l1/members", headers=leader_headers("l2"))
    assert other.status_code == 403
    history = await leaders_client.get("/api/v1/leaders/l1/members/history", headers=leader_headers("l2"))
    assert history.status_code == 403
    assert (await leaders_client.get("/api/v1/leaders/l1/members", headers=C1)).status_code == 403


async def test_members_list_pages_with_a_cursor(leaders_client: httpx.AsyncClient, two_leaders: None) -> None:
    for i in range(5):
        await leaders_client.post("/api/v1/leaders/l1/members", headers=bearer(f"c{i}", ["customer"]))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await leaders_client.get("/api/v1/leaders/l1/members", params=params, headers=OPS)).json()
        seen += [m["customer_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"c{i}" for i in reversed(range(5))]
