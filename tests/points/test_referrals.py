"""Invite codes, binding once without self-invites or cycles, the inviter's reward on the invitee's first
completed order within a daily cap, and the multi-tier invitation task."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from tests.points.conftest import NO_NEWCOMER_RULES, Clock, assert_ledger_consistent, customer, set_rules
from tests.points.events import deliver, picked_up


async def code_of(client: Any, user: str) -> str:
    body = (await client.get("/api/v1/referrals/me", headers=customer(user))).json()
    code: str = body["code"]
    return code


async def bind(client: Any, user: str, code: str) -> Any:
    return await client.post("/api/v1/referrals/bind", json={"code": code}, headers=customer(user))


async def balance(client: Any, user: str) -> int:
    value: int = (await client.get("/api/v1/points/me", headers=customer(user))).json()["balance"]
    return value


async def test_invitee_binds_once_and_both_sides_see_it(client: Any, points_app: FastAPI) -> None:
    code = await code_of(client, "alice")
    assert len(code) == 8 and code == await code_of(client, "alice")  # stable
    response = await bind(client, "bob", code.lower())  # codes are case-insensitive
    assert response.status_code == 200, response.text
    assert response.json()["inviter_id"] == "alice" and response.json()["status"] == "bound"
    assert (await bind(client, "bob", code)).status_code == 200  # the same binding again is harmless
    carol = await code_of(client, "carol")
    again = await bind(client, "bob", carol)
    assert again.status_code == 409
    assert again.json()["code"] == "ALREADY_BOUND"
    bob = (await client.get("/api/v1/referrals/me", headers=customer("bob"))).json()
    assert bob["invited_by"]["inviter_id"] == "alice"
    alice = (await client.get("/api/v1/referrals/me", headers=customer("alice"))).json()
    assert [(i["invitee_id"], i["status"]) for i in alice["invitees"]] == [("bob", "bound")]
    assert alice["invitee_count"] == 1 and alice["qualified_count"] == 0
    async with points_app.state.db.engine.connect() as conn:
        events = (await conn.execute(text("SELECT type, aggregate FROM outbox"))).all()
    assert [tuple(e) for e in events] == [("referral.bound", "user:bob")]


async def test_self_invite_and_unknown_codes_are_refused(client: Any) -> None:
    code = await code_of(client, "alice")
    own = await bind(client, "alice", code)
    assert own.status_code == 422
    assert own.json()["code"] == "SELF_INVITE"
    unknown = await bind(client, "alice", "ZZZZZZZZ")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "INVITE_CODE_NOT_FOUND"


async def test_binding_that_would_close_a_cycle_is_refused(client: Any) -> None:
    a, b, c = [await code_of(client, u) for u in ("a", "b", "c")]
    assert (await bind(client, "b", a)).status_code == 200  # a invited b
    assert (await bind(client, "c", b)).status_code == 200  # b invited c
    direct = await bind(client, "a", b)  # b inviting a would make a <-> b
    assert direct.status_code == 409
    assert direct.json()["code"] == "REFERRAL_CYCLE"
    longer = await bind(client, "a", c)  # a -> b -> c -> a
    assert longer.status_code == 409
    assert longer.json()["code"] == "REFERRAL_CYCLE"
    assert (await client.get("/api/v1/referrals/me", headers=customer("a"))).json()["invited_by"] is None


async def test_inviter_is_rewarded_only_when_the_invitee_first_completes_an_order(
    client: Any, points_app: FastAPI
) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES, invite_reward_points=200, task_tiers=[], purchase_points_per_yuan=0)
    await bind(client, "bob", await code_of(client, "alice"))
    assert await balance(client, "alice") == 0  # binding alone earns nothing
    await deliver(points_app, picked_up(1, customer_id="bob"))
    assert await balance(client, "alice") == 200
    await deliver(points_app, picked_up(2, customer_id="bob"))  # a second order: no second reward
    await deliver(points_app, picked_up(1, customer_id="bob"))  # the first again (another event id)
    assert await balance(client, "alice") == 200
    invitees = (await client.get("/api/v1/referrals/me/invitees", headers=customer("alice"))).json()["items"]
    assert [(i["invitee_id"], i["status"], i["reward_points"]) for i in invitees] == [("bob", "rewarded", 200)]
    await assert_ledger_consistent(points_app, "alice")


async def test_a_customer_who_already_ordered_does_not_qualify_their_inviter(client: Any, points_app: FastAPI) -> None:
    await set_rules(client, **NO_NEWCOMER_RULES, task_tiers=[])
    await deliver(points_app, picked_up(1, customer_id="bob"))
    response = await bind(client, "bob", await code_of(client, "alice"))
    assert response.json()["status"] == "ineligible"
    await deliver(points_app, picked_up(2, customer_id="bob"))
    assert await balance(client, "alice") == 0
    invitee = (await client.get("/api/v1/referrals/me", headers=customer("alice"))).json()["invitees"][0]
    assert invitee["reason"] == "completed an order before binding"


async def test_invite_rewards_respect_the_daily_cap_per_business_day(client: Any, points_app: FastAPI) -> None:
    await set_rules(
        client,
        **NO_NEWCOMER_RULES,
        invite_reward_points=100,
        invite_daily_cap=2,
        task_tiers=[],
        purchase_points_per_yuan=0,
    )
    code = await code_of(client, "alice")
    for invitee in ("b1", "b2", "b3", "b4"):
        await bind(client, invitee, code)
    day1 = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)  # 23:00 Shanghai
    for order_id, invitee in enumerate(("b1", "b2", "b3"), start=1):
        await deliver(points_app, picked_up(order_id, customer_id=invitee, at=day1))
    assert await balance(client, "alice") == 200
    day2 = datetime(2025, 3, 10, 16, 30, tzinfo=UTC)  # 00:30 the next day in Shanghai
    await deliver(points_app, picked_up(4, customer_id="b4", at=day2))
    assert await balance(client, "alice") == 300
    states = {
        i["invitee_id"]: (i["status"], i["reason"])
        for i in (await client.get("/api/v1/referrals/me/invitees", headers=customer("alice"))).json()["items"]
    }
    assert states["b3"] == ("qualified", "inviter reached the daily cap of 2 rewards on 2025-03-10")
    assert states["b4"] == ("rewarded", None)
    me = (await client.get("/api/v1/referrals/me", headers=customer("alice"))).json()
    assert (me["qualified_count"], me["reward_points_total"]) == (4, 300)


async def test_each_task_tier_is_rewarded_once(client: Any, points_app: FastAPI, clock: Clock) -> None:
    tiers = [{"invitees": 1, "points": 10}, {"invitees": 3, "points": 30}]
    await set_rules(client, **NO_NEWCOMER_RULES, invite_reward_points=0, task_tiers=tiers, purchase_points_per_yuan=0)
    code = await code_of(client, "alice")
    for n in range(1, 5):
        await bind(client, f"b{n}", code)
    await deliver(points_app, picked_up(1, customer_id="b1"))
    tasks = (await client.get("/api/v1/points/tasks", headers=customer("alice"))).json()["tasks"]
    assert tasks[0]["progress"] == 1
    assert [(t["invitees"], t["reached"], t["rewarded"]) for t in tasks[0]["tiers"]] == [
        (1, True, True),
        (3, False, False),
    ]
    assert await balance(client, "alice") == 10
    for order_id, invitee in ((2, "b2"), (3, "b3"), (4, "b4")):
        await deliver(points_app, picked_up(order_id, customer_id=invitee))
    assert await balance(client, "alice") == 40  # 10 + 30, the fourth invitee reaches no new tier
    # A tier added later is rewarded at the next qualification if already reached; old tiers stay paid once.
    await set_rules(client, task_tiers=[*tiers, {"invitees": 4, "points": 40}])
    code_b = await code_of(client, "b1")
    await bind(client, "z", code_b)  # unrelated inviter: alice's tiers are not re-evaluated
    assert await balance(client, "alice") == 40
    await bind(client, "b5", code)
    await deliver(points_app, picked_up(5, customer_id="b5"))
    assert await balance(client, "alice") == 80
    tasks = (await client.get("/api/v1/points/tasks", headers=customer("alice"))).json()["tasks"]
    assert [t["rewarded_points"] for t in tasks[0]["tiers"]] == [10, 30, 40]
    await assert_ledger_consistent(points_app, "alice")


async def test_invitees_page_newest_first_with_a_stable_cursor(client: Any, clock: Clock) -> None:
    code = await code_of(client, "alice")
    for n in range(5):
        await bind(client, f"b{n}", code)
        if n % 2:
            clock.advance(minutes=1)  # some share a timestamp: the cursor must still neither skip nor repeat
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/referrals/me/invitees", params=params, headers=customer("alice"))).json()
        seen += [i["invitee_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["b4", "b3", "b2", "b1", "b0"]
    forged = await client.get(
        "/api/v1/referrals/me/invitees", params={"cursor": "WzFd"}, headers=customer("alice")
    )  # [1]
    assert forged.status_code == 422
