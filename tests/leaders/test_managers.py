"""The one-to-one manager: leaders keeps what accounts says of each staff member (`staff.updated`), so a leader sees
their manager's name and contact; only accounts' word counts, and older news never overwrites newer."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx

from services.common.clock import utcnow
from services.common.events.contract import STAFF_UPDATED, StaffUpdated
from services.common.events.store import Event
from services.common.testing import service_bearer
from tests.leaders.conftest import leader_headers, make_leader


def staff_event(
    staff_id: str, *, at: datetime, name: str = "Manager Liu", roles: tuple[str, ...] = ("manager",),
    active: bool = True, source: str = "accounts",
) -> dict[str, object]:  # fmt: skip
    payload = StaffUpdated(
        staff_id=staff_id, display_name=name, contact_phone="13700000001", roles=list(roles), active=active, at=at
    )
    event = Event(
        id=str(uuid.uuid4()), type=STAFF_UPDATED, occurred_at=at, source=source, aggregate=f"staff:{staff_id}",
        data=payload.model_dump(mode="json"),
    )  # fmt: skip
    return event.model_dump(mode="json")


async def push(client: httpx.AsyncClient, event: dict[str, object], sender: str = "accounts") -> httpx.Response:
    return await client.post("/internal/events", json=event, headers=service_bearer(sender))


async def manager_seen(client: httpx.AsyncClient, leader_id: str) -> object:
    response = await client.get("/api/v1/leaders/me", headers=leader_headers(leader_id))
    assert response.status_code == 200, response.text
    return response.json()["manager"]


async def test_a_leader_sees_the_name_and_contact_of_their_manager(leaders_client: httpx.AsyncClient) -> None:
    await make_leader(leaders_client, "l1", manager_id="s_liu")
    assert await manager_seen(leaders_client, "l1") is None  # accounts has not told leaders about s_liu yet
    now = utcnow()
    assert (await push(leaders_client, staff_event("s_liu", at=now))).status_code == 200
    expected = {"id": "s_liu", "display_name": "Manager Liu", "contact_phone": "13700000001"}
    assert await manager_seen(leaders_client, "l1") == expected

    renamed = staff_event("s_liu", at=now + timedelta(minutes=1), name="Liu Min")
    assert (await push(leaders_client, renamed)).status_code == 200
    late = staff_event("s_liu", at=now - timedelta(minutes=1), name="Old Name")  # older news arriving late
    assert (await push(leaders_client, late)).status_code == 200
    assert await manager_seen(leaders_client, "l1") == expected | {"display_name": "Liu Min"}

    gone = staff_event("s_liu", at=now + timedelta(minutes=2), active=False)
    assert (await push(leaders_client, gone)).status_code == 200
    assert await manager_seen(leaders_client, "l1") is None  # a deactivated account is nobody to call


async def test_only_accounts_describes_staff(leaders_client: httpx.AsyncClient) -> None:
    await make_leader(leaders_client, "l1", manager_id="s_fake")
    for event, sender in (
        (staff_event("s_fake", at=utcnow(), source="orders"), "orders"),
        (staff_event("s_fake", at=utcnow()), "orders"),
    ):
        refused = await push(leaders_client, event, sender)
        assert refused.status_code == 403 and refused.json()["code"] == "EVENT_NOT_OWNED"
    assert await manager_seen(leaders_client, "l1") is None
