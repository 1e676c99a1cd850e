"""Tickets: opened by customers and leaders, taken, answered, resolved and closed by support, with every step kept
(who, when) and the time of the first answer; nobody reads another's ticket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import bearer
from tests.orders.conftest import LEADER, OPS, create_product, customer, leader, new_order, outbox_events

SUPPORT = bearer("sup-1", ["support"])
SUPPORT_2 = bearer("sup-2", ["support"])
FINANCE = bearer("fin-1", ["finance"])


def at(app: FastAPI, moment: datetime) -> None:
    app.state.clock = lambda: moment


async def open_ticket(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> Any:
    response = await client.post(
        "/api/v1/tickets", json={"kind": "complaint", "text": "late again"} | body, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_complaint_is_taken_answered_reopened_resolved_and_closed_with_its_history(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    product = await create_product(orders_client, stock=10)
    order = await new_order(orders_client, [(product, 1)])
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    at(orders_app, t0)
    ticket = await open_ticket(
        orders_client,
        customer(),
        text="the eggs were cracked",
        order_id=order["id"],
        images=["https://img.example/e.jpg"],
    )
    assert ticket["status"] == "open" and ticket["leader_id"] == LEADER and ticket["opener_role"] == "customer"
    assert ticket["first_answered_at"] is None and ticket["first_answer_seconds"] is None
    path = f"/api/v1/tickets/{ticket['id']}"

    at(orders_app, t0 + timedelta(minutes=5))
    taken = await orders_client.patch(path, json={"assignee_id": "sup-1"}, headers=SUPPORT)
    assert taken.status_code == 200 and taken.json()["assignee_id"] == "sup-1"
    at(orders_app, t0 + timedelta(minutes=10))
    answered = await orders_client.post(f"{path}/replies", json={"text": "Sorry! Refund on its way."}, headers=SUPPORT)
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "answered" and answered.json()["first_answer_seconds"] == 600
    at(orders_app, t0 + timedelta(minutes=20))
    back = await orders_client.post(f"{path}/replies", json={"text": "Not yet arrived"}, headers=customer())
    assert back.json()["status"] == "open"
    at(orders_app, t0 + timedelta(minutes=30))
    await orders_client.post(f"{path}/replies", json={"text": "Sent now."}, headers=SUPPORT_2)
    resolved = await orders_client.patch(path, json={"status": "resolved", "note": "refunded"}, headers=SUPPORT)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert resolved.json()["first_answer_seconds"] == 600  # the first answer stays the first
    at(orders_app, t0 + timedelta(hours=1))
    closed = await orders_client.patch(path, json={"status": "closed"}, headers=customer())
    assert closed.status_code == 200 and closed.json()["status"] == "closed"

    full = (await orders_client.get(path, headers=customer())).json()
    assert [(r["author"], r["author_role"]) for r in full["replies"]] == [
        ("sup-1", "staff"),
        ("c1", "customer"),
        ("sup-2", "staff"),
    ]
    steps = [(h["action"], h["actor"], h["from_status"], h["to_status"], h["created_at"]) for h in full["history"]]
    assert [s[:4] for s in steps] == [
        ("opened", "c1", None, "open"),
        ("assigned", "sup-1", "open", "open"),
        ("replied", "sup-1", "open", "answered"),
        ("replied", "c1", "answered", "open"),
        ("replied", "sup-2", "open", "answered"),
        ("status", "sup-1", "answered", "resolved"),
        ("status", "c1", "resolved", "closed"),
    ]
    assert steps[0][4].startswith("2026-03-02T01:00") and steps[-1][4].startswith("2026-03-02T02:00")
    assert full["closed_at"].startswith("2026-03-02T02:00") and full["resolved_at"].startswith("2026-03-02T01:30")

    refused = await orders_client.post(f"{path}/replies", json={"text": "one more thing"}, headers=customer())
    assert refused.status_code == 409 and refused.json()["code"] == "TICKET_CLOSED"
    [opened] = await outbox_events(orders_app, "ticket.opened")
    assert opened["data"]["order_id"] == order["id"] and opened["data"]["kind"] == "complaint"
    changes = [e["data"]["change"] for e in await outbox_events(orders_app, "ticket.updated")]
    assert changes == ["assigned", "answered", "replied", "replied", "status", "status"]
    answered_event = (await outbox_events(orders_app, "ticket.updated"))[1]["data"]
    assert answered_event["first_answer_seconds"] == 600 and answered_event["actor_role"] == "staff"


async def test_nobody_reads_or_answers_another_persons_ticket(orders_client: httpx.AsyncClient) -> None:
    ticket = await open_ticket(orders_client, customer())
    path = f"/api/v1/tickets/{ticket['id']}"
    for headers in (customer("c2"), leader(), FINANCE):
        assert (await orders_client.get(path, headers=headers)).status_code == 404
        reply = await orders_client.post(f"{path}/replies", json={"text": "hi"}, headers=headers)
        assert reply.status_code == 404 and reply.json()["code"] == "TICKET_NOT_FOUND"
    assert (await orders_client.get("/api/v1/tickets", headers=customer("c2"))).json()["items"] == []
    take = await orders_client.patch(path, json={"assignee_id": "c1"}, headers=customer())
    assert take.status_code == 403 and take.json()["code"] == "NOT_TICKET_HANDLER"
    resolve = await orders_client.patch(path, json={"status": "resolved"}, headers=customer())
    assert resolve.status_code == 403


async def test_a_ticket_names_only_an_order_its_opener_may_read(orders_client: httpx.AsyncClient) -> None:
    product = await create_product(orders_client, stock=10)
    order = await new_order(orders_client, [(product, 1)], who="c2")
    foreign = await orders_client.post(
        "/api/v1/tickets", json={"kind": "complaint", "text": "x", "order_id": order["id"]}, headers=customer()
    )
    assert foreign.status_code == 404 and foreign.json()["code"] == "ORDER_NOT_FOUND"
    # The order's leader may raise it (their pickup point's order).
    by_leader = await open_ticket(orders_client, leader(), order_id=order["id"])
    assert by_leader["opener_role"] == "leader" and by_leader["leader_id"] == LEADER


async def test_support_lists_every_ticket_filtered_and_openers_their_own(orders_client: httpx.AsyncClient) -> None:
    complaint = await open_ticket(orders_client, customer())
    suggestion = await open_ticket(orders_client, leader(), kind="suggestion", text="deliver before 8")
    await orders_client.patch(f"/api/v1/tickets/{complaint['id']}", json={"assignee_id": "sup-2"}, headers=SUPPORT)

    def ids(response: httpx.Response) -> list[int]:
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    assert ids(await orders_client.get("/api/v1/tickets", headers=SUPPORT)) == [suggestion["id"], complaint["id"]]
    assert ids(await orders_client.get("/api/v1/tickets", headers=customer())) == [complaint["id"]]
    assert ids(await orders_client.get("/api/v1/tickets", headers=leader())) == [suggestion["id"]]
    kinds = await orders_client.get("/api/v1/tickets", params={"kind": "suggestion"}, headers=OPS)
    assert ids(kinds) == [suggestion["id"]]
    by_leader = await orders_client.get("/api/v1/tickets", params={"leader_id": LEADER}, headers=SUPPORT)
    assert ids(by_leader) == [suggestion["id"]]
    taken = await orders_client.get("/api/v1/tickets", params={"assignee_id": "sup-2"}, headers=SUPPORT)
    assert ids(taken) == [complaint["id"]]
    assert ids(await orders_client.get("/api/v1/tickets", params={"status": "answered"}, headers=SUPPORT)) == []
    page = await orders_client.get("/api/v1/tickets", params={"limit": 1}, headers=SUPPORT)
    assert ids(page) == [suggestion["id"]] and page.json()["next_cursor"]


@pytest.mark.parametrize(
    ("method", "path", "body", "params", "code"),
    [
        ("POST", "/api/v1/tickets", {"kind": "complaint", "text": "  "}, None, "VALIDATION_ERROR"),
        ("POST", "/api/v1/tickets", {"kind": "rant", "text": "x"}, None, "VALIDATION_ERROR"),
        ("POST", "/api/v1/tickets", {"kind": "complaint", "text": "x", "order_id": 0}, None, "VALIDATION_ERROR"),
        ("POST", "/api/v1/tickets", {"kind": "complaint", "text": "x", "order_id": 999_999}, None, "ORDER_NOT_FOUND"),
        ("POST", "/api/v1/tickets", {"kind": "complaint", "text": "x" * 2001}, None, "VALIDATION_ERROR"),
        ("POST", "/api/v1/tickets", {"kind": "complaint", "text": "a\u0000b"}, None, "VALIDATION_ERROR"),
        ("GET", "/api/v1/tickets", None, {"status": "lost"}, "VALIDATION_ERROR"),
        ("GET", "/api/v1/tickets", None, {"assignee_id": "\u0000"}, "VALIDATION_ERROR"),
        ("GET", "/api/v1/tickets", None, {"sort": "new"}, "VALIDATION_ERROR"),
        ("GET", f"/api/v1/tickets/{2**63}", None, None, "VALIDATION_ERROR"),
        ("GET", "/api/v1/tickets/123456", None, None, "TICKET_NOT_FOUND"),
    ],
)
async def test_bad_ticket_input_is_a_problem_with_a_code(
    orders_client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    params: dict[str, str] | None,
    code: str,
) -> None:
    response = await orders_client.request(method, path, json=body, params=params, headers=customer())
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["code"] == code


async def test_a_change_must_name_something_valid(orders_client: httpx.AsyncClient) -> None:
    ticket = await open_ticket(orders_client, customer())
    path = f"/api/v1/tickets/{ticket['id']}"
    empty = await orders_client.patch(path, json={}, headers=SUPPORT)
    assert empty.status_code == 422 and empty.json()["code"] == "EMPTY_TICKET_CHANGE"
    reopen = await orders_client.patch(path, json={"status": "open"}, headers=SUPPORT)
    assert reopen.status_code == 422 and reopen.json()["code"] == "TICKET_STATUS_NOT_SETTABLE"
    staff_only = await orders_client.post("/api/v1/tickets", json={"kind": "complaint", "text": "x"}, headers=SUPPORT)
    assert staff_only.status_code == 403 and staff_only.json()["code"] == "MISSING_ROLE"
    assert (await orders_client.patch(path, json={"status": "closed"}, headers=SUPPORT)).status_code == 200
    again = await orders_client.patch(path, json={"status": "resolved"}, headers=SUPPORT)
    assert again.status_code == 409 and again.json()["code"] == "TICKET_CLOSED"
