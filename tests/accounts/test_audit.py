"""The audit trail accounts keeps: staff duty changes go in directly, other services' actions arrive as
`audit.recorded`; it is read by duty, filtered strictly, kept once per event, and the database refuses to edit it."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.accounts.db import inbox
from services.accounts.subscriptions import HANDLERS
from services.common import audit
from services.common.events.bus import NatsBus, subject_of
from services.common.events.contract import AUDIT_RECORDED
from services.common.events.store import Event
from services.common.events.wiring import consume_nats
from tests.accounts.conftest import (
    Clock,
    auth,
    create_staff,
    dev_token,
    ok,
    ops,
    push,
    staff_sign_in,
)

AUDIT = "/api/v1/audit-log"


def audit_event(
    *, source: str = "leaders", service: str | None = None, at: datetime, action: str = "withdrawal.approved", **kw: Any
) -> dict[str, Any]:
    payload = audit.entry(
        service=service or source,
        actor=kw.pop("actor", "s_finance"),
        action=action,
        target=kw.pop("target", ("withdrawal", 7)),
        before=kw.pop("before", {"status": "pending"}),
        after=kw.pop("after", {"status": "approved"}),
        at=at,
    )
    event = Event(
        id=str(uuid.uuid4()),
        type=AUDIT_RECORDED,
        occurred_at=at,
        source=source,
        aggregate=f"{payload.target_type}:{payload.target_id}",
        data=payload.model_dump(mode="json"),
    )
    return event.model_dump(mode="json")


async def entries(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    headers = await dev_token(client, "s_auditor", ["finance"])
    items: list[dict[str, Any]] = ok(await client.get(AUDIT, params=params, headers=headers))["items"]
    return items


async def test_a_change_of_duties_is_kept_with_who_made_it_and_the_roles_before_and_after(
    accounts_client: httpx.AsyncClient, clock: Clock
) -> None:
    admin = await create_staff(accounts_client, "boss", ["ops"])
    clerk = await create_staff(accounts_client, "clerk", ["catalogue"])
    token = ok(await staff_sign_in(accounts_client, "boss"))["access_token"]
    ok(await accounts_client.patch(f"/api/v1/staff/{clerk['id']}", json={"roles": ["finance"]}, headers=auth(token)))

    changed = await entries(accounts_client, action="staff.updated")
    assert len(changed) == 1
    entry = changed[0]
    assert (entry["service"], entry["actor"], entry["actor_username"]) == ("accounts", admin["id"], "boss")
    assert entry["actor_roles"] == ["ops"]
    assert (entry["target_type"], entry["target_id"]) == ("staff", clerk["id"])
    assert (entry["before"], entry["after"]) == ({"roles": ["catalogue"]}, {"roles": ["finance"]})
    assert datetime.fromisoformat(entry["at"]) == clock()
    created = await entries(accounts_client, action="staff.created", target=f"staff:{clerk['id']}")
    assert [e["after"]["roles"] for e in created] == [["catalogue"]]
    assert "password_hash" not in str(created)


async def test_a_password_reset_says_that_it_happened_never_what_to(accounts_client: httpx.AsyncClient) -> None:
    clerk = await create_staff(accounts_client, "clerk", ["catalogue"])
    body = {"password": "another horse battery"}
    ok(await accounts_client.patch(f"/api/v1/staff/{clerk['id']}", json=body, headers=await ops(accounts_client)))
    (entry,) = await entries(accounts_client, action="staff.updated")
    assert (entry["before"], entry["after"]) == ({"password": None}, {"password": "reset"})
    assert "another horse" not in str(entry)


async def test_another_services_action_is_kept_once_however_often_it_is_delivered(
    accounts_client: httpx.AsyncClient, clock: Clock
) -> None:
    event = audit_event(at=clock())
    assert ok(await push(accounts_client, event, sender="leaders"))["applied"] is True
    assert ok(await push(accounts_client, event, sender="leaders"))["applied"] is False
    (entry,) = await entries(accounts_client)
    assert (entry["service"], entry["action"], entry["target_type"], entry["target_id"]) == (
        "leaders",
        "withdrawal.approved",
        "withdrawal",
        "7",
    )
    assert (entry["before"], entry["after"]) == ({"status": "pending"}, {"status": "approved"})


async def test_a_service_cannot_write_audit_entries_in_another_services_name(
    accounts_client: httpx.AsyncClient, clock: Clock
) -> None:
    for event, sender in (
        (audit_event(source="leaders", at=clock()), "points"),  # sent by points, claiming to be leaders
        (audit_event(source="points", service="leaders", at=clock()), "points"),  # a payload naming another
    ):
        refused = await push(accounts_client, event, sender=sender)
        assert refused.status_code == 403 and refused.json()["code"] == "EVENT_NOT_OWNED", refused.text
    assert await entries(accounts_client) == []


async def test_filters_narrow_the_trail_and_pages_follow_the_cursor(
    accounts_client: httpx.AsyncClient, clock: Clock
) -> None:
    day1, day2 = datetime(2025, 3, 9, 4, 0, tzinfo=UTC), datetime(2025, 3, 10, 4, 0, tzinfo=UTC)
    for source, actor, target, action, at in (
        ("leaders", "s_a", ("withdrawal", 1), "withdrawal.approved", day1),
        ("orders", "s_b", ("product", 1), "product.updated", day1),
        ("orders", "s_a", ("product", 2), "product.updated", day2),
        ("points", "s_b", ("points_account", "u_1"), "points.adjusted", day2),
    ):
        ok(await push(accounts_client, audit_event(source=source, actor=actor, target=target, action=action, at=at),
                      sender=source))  # fmt: skip

    def ids(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(e["target_type"], e["target_id"]) for e in items]

    assert ids(await entries(accounts_client)) == [
        ("points_account", "u_1"),
        ("product", "2"),
        ("product", "1"),
        ("withdrawal", "1"),
    ]  # newest first
    assert ids(await entries(accounts_client, actor="s_a")) == [("product", "2"), ("withdrawal", "1")]
    assert ids(await entries(accounts_client, target="product")) == [("product", "2"), ("product", "1")]
    assert ids(await entries(accounts_client, target="product:1")) == [("product", "1")]
    assert ids(await entries(accounts_client, action="points.adjusted")) == [("points_account", "u_1")]
    assert ids(await entries(accounts_client, service="leaders")) == [("withdrawal", "1")]
    assert ids(await entries(accounts_client, **{"from": "2025-03-10"})) == [
        ("points_account", "u_1"),
        ("product", "2"),
    ]
    assert ids(await entries(accounts_client, to="2025-03-09")) == [("product", "1"), ("withdrawal", "1")]

    headers = await dev_token(accounts_client, "s_auditor", ["finance"])
    first = ok(await accounts_client.get(AUDIT, params={"limit": 3}, headers=headers))
    assert len(first["items"]) == 3 and first["next_cursor"] and first["total"] is None
    rest = ok(await accounts_client.get(AUDIT, params={"limit": 3, "cursor": first["next_cursor"]}, headers=headers))
    assert ids(rest["items"]) == [("withdrawal", "1")] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [{"actr": "s_a"}, {"from": "yesterday"}, {"from": "2025-03-10", "to": "2025-03-09"}, {"cursor": "nope"}],
)
async def test_bad_filters_are_refused(accounts_client: httpx.AsyncClient, params: dict[str, str]) -> None:
    headers = await dev_token(accounts_client, "s_auditor", ["finance"])
    response = await accounts_client.get(AUDIT, params=params, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("roles", "status"), [(["ops"], 200), (["finance"], 200), (["catalogue"], 403),
                                               (["support"], 403), (["customer"], 403), (["leader"], 403)])  # fmt: skip
async def test_only_duties_holding_audit_read_see_the_trail(
    accounts_client: httpx.AsyncClient, roles: list[str], status: int
) -> None:
    response = await accounts_client.get(AUDIT, headers=await dev_token(accounts_client, "x_1", roles))
    assert response.status_code == status, response.text
    assert (await accounts_client.get(AUDIT)).status_code == 401


async def test_nobody_edits_the_trail(accounts_client: httpx.AsyncClient) -> None:
    await create_staff(accounts_client, "clerk", ["catalogue"])
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        response = await accounts_client.request(method, AUDIT, headers=await ops(accounts_client))
        assert response.status_code == 405, (method, response.text)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_entries SET after = NULL", "UPDATE audit_entries SET actor = 'someone else'",
     "DELETE FROM audit_entries", "TRUNCATE audit_entries"],
)  # fmt: skip
async def test_the_database_refuses_to_change_or_remove_an_entry(
    accounts_app: FastAPI, accounts_client: httpx.AsyncClient, statement: str
) -> None:
    await create_staff(accounts_client, "clerk", ["catalogue"])
    db = accounts_app.state.db
    if statement.startswith("TRUNCATE") and db.is_sqlite:
        statement = "DELETE FROM audit_entries WHERE 1 = 1"  # SQLite's way to empty a table; no TRUNCATE
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.engine.begin() as conn:
            await conn.execute(text(statement))
    async with db.engine.connect() as conn:
        kept = (await conn.execute(text("SELECT actor, after FROM audit_entries"))).all()
    assert len(kept) == 1 and kept[0].actor == "s_ops" and kept[0].after is not None


def test_on_nats_each_service_publishes_its_audit_entries_on_its_own_subject() -> None:
    """So the NATS server's publish permissions keep a service to its own audit entries, as to its own types."""
    at = datetime(2025, 3, 10, tzinfo=UTC)
    entry = Event.model_validate(audit_event(source="orders", at=at))
    paid = Event(id="e1", type="order.paid", occurred_at=at, source="orders", data={})
    assert subject_of(entry) == "events.audit.recorded.orders"
    assert subject_of(paid) == "events.order.paid"


@pytest.mark.nats
async def test_on_nats_audit_entries_are_kept_once_and_never_in_another_services_name(
    accounts_app: FastAPI, clock: Clock
) -> None:
    suffix = uuid.uuid4().hex[:8]
    stream, prefix = f"TEST_EVENTS_{suffix}", f"test{suffix}."
    url = os.environ["TEST_NATS_URL"]
    accounts_app.state.settings = accounts_app.state.settings.model_copy(update={"events_nats_url": url})
    bus = NatsBus(url, stream=stream, subject_prefix=prefix)
    forged = Event.model_validate(audit_event(source="points", service="leaders", at=clock()))
    genuine = Event.model_validate(audit_event(source="leaders", at=clock()))
    for event in (forged, genuine, genuine):
        await bus.publish(event)
    task = asyncio.create_task(
        consume_nats(accounts_app, service=f"accounts{suffix}", inbox=inbox, handlers=HANDLERS, stream=stream,
                     subject_prefix=prefix)
    )  # fmt: skip
    try:
        for _ in range(200):  # until the genuine entry is kept (the forged one came first)
            async with accounts_app.state.db.engine.connect() as conn:
                if (await conn.execute(text("SELECT count(*) FROM audit_entries"))).scalar():
                    break
            await asyncio.sleep(0.05)
        js = await bus._jetstream()
        last = await js.get_last_msg(stream, f"{prefix}audit.recorded.leaders")
        assert Event.model_validate_json(last.data).id == genuine.id
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        js = await bus._jetstream()
        await js.delete_stream(stream)
        await bus.aclose()
    async with accounts_app.state.db.engine.connect() as conn:
        kept = (await conn.execute(text("SELECT event_id, service FROM audit_entries"))).all()
    assert [(row.event_id, row.service) for row in kept] == [(genuine.id, "leaders")]
