from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from services.common.events.contract import POINTS_SIGNED_IN
from services.points.db import outbox
from tests.points.conftest import Clock, assert_ledger_consistent, customer, set_rules

U1 = customer("u1")


async def sign_in(client: Any, headers: dict[str, str] = U1) -> Any:
    return await client.post("/api/v1/points/sign-ins", headers=headers)


async def test_first_sign_in_awards_day_one_and_a_second_the_same_day_is_409(
    client: Any, clock: Clock, points_app: Any
) -> None:
    await set_rules(client, newcomer_points=0)
    first = await sign_in(client)
    assert first.status_code == 201, first.text
    assert first.json() == {"date": "2025-03-10", "streak": 1, "awarded": 5}
    again = await sign_in(client)
    assert again.status_code == 409
    assert again.json()["code"] == "ALREADY_SIGNED_IN"
    me = (await client.get("/api/v1/points/me", headers=U1)).json()
    assert me["balance"] == 5
    await assert_ledger_consistent(points_app, "u1")


async def test_streak_follows_the_schedule_repeats_and_restarts_after_a_missed_day(client: Any, clock: Clock) -> None:
    await set_rules(client, newcomer_points=0, signin_schedule=[1, 2, 3])
    awarded = []
    for _ in range(5):
        body = (await sign_in(client)).json()
        awarded.append((body["streak"], body["awarded"]))
        clock.advance(days=1)
    assert awarded == [(1, 1), (2, 2), (3, 3), (4, 1), (5, 2)]
    clock.advance(days=1)  # a day missed
    body = (await sign_in(client)).json()
    assert (body["streak"], body["awarded"]) == (1, 1)
    me = (await client.get("/api/v1/points/me", headers=U1)).json()
    assert me["balance"] == 1 + 2 + 3 + 1 + 2 + 1


async def test_business_day_boundary_is_midnight_in_shanghai(client: Any, clock: Clock) -> None:
    await set_rules(client, newcomer_points=0)
    clock.set(datetime(2025, 3, 10, 15, 59, tzinfo=UTC))  # 23:59 in Shanghai
    first = (await sign_in(client)).json()
    clock.set(datetime(2025, 3, 10, 16, 1, tzinfo=UTC))  # 00:01 next day in Shanghai, same UTC day
    second = await sign_in(client)
    assert second.status_code == 201, second.text
    assert (first["date"], second.json()["date"]) == ("2025-03-10", "2025-03-11")
    assert second.json()["streak"] == 2


async def test_two_utc_days_within_one_shanghai_day_are_one_sign_in(client: Any, clock: Clock) -> None:
    await set_rules(client, newcomer_points=0)
    clock.set(datetime(2025, 3, 10, 23, 30, tzinfo=UTC))  # 07:30 on the 11th in Shanghai
    assert (await sign_in(client)).json()["date"] == "2025-03-11"
    clock.set(datetime(2025, 3, 11, 0, 30, tzinfo=UTC))  # a new UTC day, still the 11th in Shanghai
    assert (await sign_in(client)).status_code == 409


async def test_newcomer_points_once_on_first_signed_in_action(client: Any, points_app: Any) -> None:
    await set_rules(client, newcomer_points=100)
    me = (await client.get("/api/v1/points/me", headers=U1)).json()
    assert me["balance"] == 100
    await sign_in(client)
    await client.get("/api/v1/points/me", headers=U1)
    me = (await client.get("/api/v1/points/me", headers=U1)).json()
    assert me["balance"] == 105
    kinds = [e["kind"] for e in (await client.get("/api/v1/points/me/entries", headers=U1)).json()["items"]]
    assert kinds == ["signin", "newcomer"]
    await assert_ledger_consistent(points_app, "u1")


async def test_parallel_first_actions_grant_the_newcomer_points_once(client: Any, points_app: Any) -> None:
    await set_rules(client, newcomer_points=100, signin_schedule=[5])
    requests = [client.get("/api/v1/points/me", headers=U1) for _ in range(4)]
    requests += [client.post("/api/v1/points/sign-ins", headers=U1), client.get("/api/v1/points/tasks", headers=U1)]
    responses = await asyncio.gather(*requests)
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert (await client.get("/api/v1/points/me", headers=U1)).json()["balance"] == 105
    await assert_ledger_consistent(points_app, "u1")


async def test_a_sign_in_is_published_once_with_its_moment_for_analytics(
    client: Any, clock: Clock, points_app: Any
) -> None:
    await set_rules(client, newcomer_points=0)
    assert (await sign_in(client)).status_code == 201
    assert (await sign_in(client)).status_code == 409  # the refused second sign-in publishes nothing
    async with points_app.state.db.reading() as session:
        conn = await session.connection()
        rows = (await conn.execute(select(outbox.table).where(outbox.table.c.type == POINTS_SIGNED_IN))).all()
    assert [(row.aggregate, row.data) for row in rows] == [
        ("user:u1", {"user_id": "u1", "at": "2025-03-10T04:00:00Z", "streak": 1})
    ]
