"""After-sale requests: units reserved while open, decided by the policy, the leader, support or finance, refunded
once through the one refund path, appealed once; lists filtered and readable only by those concerned."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from services.common.clock import utcnow
from services.common.testing import asgi_client, bearer
from services.orders.orders.models import Order
from services.orders.payments.jobs import refund_sender_job
from tests.conftest import AppFactory
from tests.orders.conftest import (
    LEADER,
    OPS,
    OTHER_LEADER,
    build_orders_app,
    create_product,
    customer,
    get_order,
    leader,
    new_order,
    outbox_events,
    pay,
)

SUPPORT = bearer("sup-1", ["support"])
FINANCE = bearer("fin-1", ["finance"])
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


async def picked_up_order(
    client: httpx.AsyncClient, *, price_fen: int = 1000, quantity: int = 2, who: str = "c1", points: int = 0
) -> dict[str, Any]:
    product = await create_product(client, price_fen=price_fen, stock=100)
    order = await pay(client, await new_order(client, [(product, quantity)], who=who, points=points))
    assert (await client.post(f"/api/v1/orders/{order['id']}/arrive", headers=leader())).status_code == 200
    done = await client.post(
        f"/api/v1/orders/{order['id']}/pickup", json={"pickup_code": order["pickup_code"]}, headers=leader()
    )
    assert done.status_code == 200, done.text
    return order


def ask(
    client: httpx.AsyncClient,
    order: dict[str, Any],
    quantity: int = 1,
    *,
    who: str | None = None,
    reason: str = "damaged",
    line: int = 0,
) -> Any:
    body = {
        "lines": [{"line_id": order["lines"][line]["id"], "quantity": quantity}],
        "reason": reason,
        "description": "two apples were crushed",
        "images": ["https://img.example/1.jpg"],
    }
    return client.post(
        f"/api/v1/orders/{order['id']}/after-sales", json=body, headers=customer(who or order["customer_id"])
    )


def act(client: httpx.AsyncClient, request_id: int, action: str, headers: dict[str, str], reason: str | None) -> Any:
    body = {} if reason is None else {"reason": reason}
    return client.post(f"/api/v1/after-sales/{request_id}/{action}", json=body, headers=headers)


async def line_state(client: httpx.AsyncClient, order: dict[str, Any]) -> tuple[int, int]:
    line = (await get_order(client, order))["lines"][0]
    return line["refunded_quantity"], line["reserved_quantity"]


async def test_a_small_request_right_after_pickup_is_approved_and_refunded_once(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    order = await picked_up_order(orders_client)
    response = await ask(orders_client, order)
    assert response.status_code == 201, response.text
    request = response.json()
    assert request["status"] == "approved" and request["amount_fen"] == 1000
    assert request["refund_id"] is not None and request["refunded_fen"] == 1000
    assert [h["action"] for h in request["history"]] == ["requested", "approved"]
    assert request["history"][1]["actor"] == "system" and request["history"][1]["actor_role"] == "system"
    assert await line_state(orders_client, order) == (1, 0)
    [refunded] = await outbox_events(orders_app, "order.refunded")
    assert refunded["data"]["refund_id"] == request["refund_id"] and refunded["data"]["picked_up"] is True
    assert [e["data"]["decision"] for e in await outbox_events(orders_app, "aftersale.decided")] == ["approved"]
    [asked] = await outbox_events(orders_app, "aftersale.requested")
    assert asked["data"]["amount_fen"] == 1000 and asked["data"]["reason"] == "damaged"

    # The money goes back through the provider once; then the request says so.
    assert (await refund_sender_job(orders_app)).refunds_sent == 1
    assert (await refund_sender_job(orders_app)).refunds_sent == 0
    [sent] = orders_app.state.refund_provider.refunds
    assert sent.amount_fen == 1000
    done = (await orders_client.get(f"/api/v1/after-sales/{request['id']}", headers=customer())).json()
    assert done["status"] == "refunded" and done["refunded_at"] is not None
    [paid_back] = await outbox_events(orders_app, "aftersale.refunded")
    assert paid_back["data"]["refund_fen"] == 1000 and paid_back["data"]["refund_id"] == request["refund_id"]
    again = await act(orders_client, request["id"], "approve", FINANCE, None)
    assert again.status_code == 409 and again.json()["code"] == "AFTER_SALE_NOT_OPEN"
    assert len(await outbox_events(orders_app, "order.refunded")) == 1


async def test_a_large_request_is_escalated_rejected_appealed_and_approved_by_finance_once(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    order = await picked_up_order(orders_client, price_fen=30_000, quantity=2)
    request = (await ask(orders_client, order, quantity=1)).json()
    assert request["status"] == "pending" and request["amount_fen"] == 30_000
    assert await line_state(orders_client, order) == (0, 1)
    request_id = request["id"]

    over = await act(orders_client, request_id, "approve", leader(), None)
    assert over.status_code == 403 and over.json()["code"] == "AFTER_SALE_OVER_LEADER_LIMIT"
    by_leader = await act(orders_client, request_id, "reject", leader(), "looks fine to me")
    assert by_leader.status_code == 403 and by_leader.json()["code"] == "NOT_AFTER_SALE_REVIEWER"
    escalated = await act(orders_client, request_id, "escalate", leader(), "too much for me")
    assert escalated.status_code == 200 and escalated.json()["status"] == "escalated"

    no_reason = await act(orders_client, request_id, "reject", SUPPORT, None)
    assert no_reason.status_code == 422
    rejected = await act(orders_client, request_id, "reject", SUPPORT, "the photo shows a whole box")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected" and rejected.json()["can_appeal"] is True
    assert rejected.json()["decision_reason"] == "the photo shows a whole box"
    assert await line_state(orders_client, order) == (0, 0)  # the units are free again

    not_mine = await act(orders_client, request_id, "appeal", customer("c2"), "please")
    assert not_mine.status_code == 404
    appealed = await act(orders_client, request_id, "appeal", customer(), "the second photo shows the damage")
    assert appealed.status_code == 200 and appealed.json()["status"] == "appealed"
    assert await line_state(orders_client, order) == (0, 1)

    by_support = await act(orders_client, request_id, "approve", SUPPORT, None)
    assert by_support.status_code == 403 and by_support.json()["code"] == "AFTER_SALE_FINANCE_REQUIRED"
    approved = await act(orders_client, request_id, "approve", FINANCE, "accepted on appeal")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["refunded_fen"] == 30_000
    assert await line_state(orders_client, order) == (1, 0)
    twice = await act(orders_client, request_id, "approve", FINANCE, None)
    assert twice.status_code == 409
    assert len(await outbox_events(orders_app, "order.refunded")) == 1
    decisions = [e["data"]["decision"] for e in await outbox_events(orders_app, "aftersale.decided")]
    assert decisions == ["escalated", "rejected", "appealed", "approved"]
    history = approved.json()["history"]
    assert [(h["action"], h["actor"]) for h in history] == [
        ("requested", "c1"),
        ("escalated", LEADER),
        ("rejected", "sup-1"),
        ("appealed", "c1"),
        ("approved", "fin-1"),
    ]
    assert (await get_order(orders_client, order))["refunded_fen"] == 30_000


async def test_a_request_is_appealed_once_and_a_second_rejection_is_final(orders_client: httpx.AsyncClient) -> None:
    order = await picked_up_order(orders_client, price_fen=30_000, quantity=1)
    request_id = (await ask(orders_client, order)).json()["id"]
    assert (await act(orders_client, request_id, "reject", SUPPORT, "no")).status_code == 200
    assert (await act(orders_client, request_id, "appeal", customer(), "yes")).status_code == 200
    final = await act(orders_client, request_id, "reject", FINANCE, "still no")
    assert final.status_code == 200 and final.json()["can_appeal"] is False
    again = await act(orders_client, request_id, "appeal", customer(), "please")
    assert again.status_code == 409 and again.json()["code"] == "AFTER_SALE_APPEAL_USED"


async def test_the_leader_approves_within_their_limit_for_their_own_pickup_point_only(
    orders_client: httpx.AsyncClient,
) -> None:
    order = await picked_up_order(orders_client, price_fen=4000, quantity=1)
    request_id = (await ask(orders_client, order)).json()["id"]  # 4000 fen: above the automatic limit
    other = await act(orders_client, request_id, "approve", leader(OTHER_LEADER), None)
    assert other.status_code == 404
    approved = await act(orders_client, request_id, "approve", leader(), "broken on arrival")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["decided_by"] == LEADER


async def test_requests_never_ask_for_more_than_was_bought_and_not_refunded(orders_client: httpx.AsyncClient) -> None:
    order = await picked_up_order(orders_client, price_fen=30_000, quantity=2)
    assert (await ask(orders_client, order, quantity=2)).status_code == 201
    more = await ask(orders_client, order, quantity=1)
    assert more.status_code == 409 and more.json()["code"] == "AFTER_SALE_EXCEEDS_PURCHASE"
    # Reserved units are out of reach of a direct refund too.
    body = {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "goodwill"}
    direct = await orders_client.post(f"/api/v1/orders/{order['id']}/refunds", json=body, headers=FINANCE)
    assert direct.status_code == 409 and direct.json()["code"] == "REFUND_EXCEEDS_PURCHASE"
    too_many = await ask(orders_client, order, quantity=3)
    assert too_many.status_code == 409


async def test_requests_after_the_automatic_window_wait_and_after_the_after_sale_window_are_refused(
    make_app: AppFactory,
) -> None:
    app = await build_orders_app(make_app, after_sale_days=3)
    async with asgi_client(app) as client:
        order = await picked_up_order(client, quantity=3)
        app.state.clock = lambda: utcnow() + timedelta(hours=49)
        late = await ask(client, order)
        assert late.status_code == 201 and late.json()["status"] == "pending"
        app.state.clock = lambda: utcnow() + timedelta(days=3, hours=1)
        closed = await ask(client, order)
        assert closed.status_code == 409 and closed.json()["code"] == "AFTER_SALE_WINDOW_CLOSED"


async def test_the_thirty_day_cap_sends_a_customers_further_requests_to_review(make_app: AppFactory) -> None:
    app = await build_orders_app(make_app, after_sale_auto_approve_cap_fen=2500)
    async with asgi_client(app) as client:
        order = await picked_up_order(client, price_fen=1000, quantity=5)
        statuses = [(await ask(client, order)).json()["status"] for _ in range(3)]
        assert statuses == ["approved", "approved", "pending"]
        # Thirty-one days on, the early approvals no longer count (the after-sale window is the only other limit).
        async with app.state.db.sessionmaker() as session, session.begin():
            await session.exec(
                update(Order).where(col(Order.id) == order["id"]).values(picked_up_at=utcnow() + timedelta(days=31))
            )
        app.state.clock = lambda: utcnow() + timedelta(days=31)
        assert (await ask(client, order)).json()["status"] == "approved"


async def test_requests_are_read_by_those_concerned_and_filtered(orders_client: httpx.AsyncClient) -> None:
    # The service dates the requests by its clock: the dated filter spans every business day the requests can have
    # been made on, which is one day unless the test runs across midnight in Shanghai.
    first_day = utcnow().astimezone(BUSINESS_TZ).date()
    mine = await picked_up_order(orders_client, price_fen=30_000, quantity=1)
    theirs = await picked_up_order(orders_client, price_fen=500, quantity=1, who="c2")
    pending_id = (await ask(orders_client, mine)).json()["id"]
    approved_id = (await ask(orders_client, theirs)).json()["id"]

    assert (await orders_client.get(f"/api/v1/after-sales/{approved_id}", headers=customer())).status_code == 404
    assert (await orders_client.get(f"/api/v1/after-sales/{pending_id}", headers=leader())).status_code == 200
    hidden = await orders_client.get(f"/api/v1/after-sales/{pending_id}", headers=leader(OTHER_LEADER))
    assert hidden.status_code == 404 and hidden.json()["code"] == "AFTER_SALE_NOT_FOUND"

    def ids(response: httpx.Response) -> list[int]:
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(await orders_client.get("/api/v1/after-sales", headers=customer())) == [pending_id]
    assert ids(await orders_client.get("/api/v1/after-sales", headers=SUPPORT)) == [approved_id, pending_id]
    by_status = await orders_client.get("/api/v1/after-sales", params={"status": "pending"}, headers=FINANCE)
    assert ids(by_status) == [pending_id]
    point = await orders_client.get("/api/v1/after-sales", params={"leader_id": LEADER}, headers=leader())
    assert ids(point) == [approved_id, pending_id]
    foreign = await orders_client.get("/api/v1/after-sales", params={"leader_id": LEADER}, headers=leader(OTHER_LEADER))
    assert foreign.status_code == 403 and foreign.json()["code"] == "LEADER_FILTER_FORBIDDEN"
    today = utcnow().astimezone(BUSINESS_TZ).date()
    dated = {"from": first_day.isoformat(), "to": today.isoformat()}
    assert ids(await orders_client.get("/api/v1/after-sales", params=dated, headers=OPS)) == [approved_id, pending_id]
    earlier = {"from": (first_day - timedelta(days=9)).isoformat(), "to": (first_day - timedelta(days=1)).isoformat()}
    assert ids(await orders_client.get("/api/v1/after-sales", params=earlier, headers=OPS)) == []
    first = await orders_client.get("/api/v1/after-sales", params={"limit": 1}, headers=OPS)
    assert ids(first) == [approved_id]
    rest = await orders_client.get(
        "/api/v1/after-sales", params={"limit": 1, "cursor": first.json()["next_cursor"]}, headers=OPS
    )
    assert ids(rest) == [pending_id] and rest.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"lines": [{"line_id": 1, "quantity": 1}], "reason": "because"}, "VALIDATION_ERROR"),
        ({"lines": [{"line_id": 1, "quantity": 0}], "reason": "damaged"}, "VALIDATION_ERROR"),
        ({"lines": [], "reason": "damaged"}, "VALIDATION_ERROR"),
        ({"lines": [{"line_id": 1, "quantity": "1"}], "reason": "damaged"}, "VALIDATION_ERROR"),
        ({"lines": [{"line_id": 1, "quantity": 1}], "reason": "damaged", "images": ["not a url"]}, "VALIDATION_ERROR"),
        ({"lines": [{"line_id": 1, "quantity": 1}], "reason": "damaged", "extra": 1}, "VALIDATION_ERROR"),
        ({"lines": [{"line_id": 2**63, "quantity": 1}], "reason": "damaged"}, "VALIDATION_ERROR"),
        ({"lines": [{"line_id": 999_999, "quantity": 1}], "reason": "damaged"}, "ORDER_LINE_NOT_FOUND"),
        # PostgreSQL cannot store NUL: refused before it gets there.
        (
            {"lines": [{"line_id": 1, "quantity": 1}], "reason": "damaged", "description": "a\u0000b"},
            "VALIDATION_ERROR",
        ),
        (
            {"lines": [{"line_id": 1, "quantity": 1}], "reason": "damaged", "images": ["https://x/\u0000"]},
            "VALIDATION_ERROR",
        ),
    ],
)
async def test_bad_after_sale_input_is_a_problem_with_a_code(
    orders_client: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    order = await picked_up_order(orders_client)
    response = await orders_client.post(f"/api/v1/orders/{order['id']}/after-sales", json=body, headers=customer())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("POST", "/api/v1/after-sales/1/reject", {}),
        ("GET", "/api/v1/after-sales", {"state": "pending"}),
        ("GET", "/api/v1/after-sales", {"status": "lost"}),
        ("GET", "/api/v1/after-sales", {"from": "2026-02-30"}),
        ("GET", "/api/v1/after-sales", {"from": "2026-03-02", "to": "2026-03-01"}),
        ("GET", "/api/v1/after-sales", {"limit": "1.5"}),
        ("GET", "/api/v1/after-sales", {"cursor": "!!"}),
        ("GET", "/api/v1/after-sales", {"leader_id": "L\u0000"}),
        ("GET", f"/api/v1/after-sales/{2**63}", {}),
        ("POST", "/api/v1/after-sales/0/approve", {}),
    ],
)
async def test_bad_after_sale_paths_and_queries_are_4xx_problems(
    orders_client: httpx.AsyncClient, method: str, path: str, params: dict[str, str]
) -> None:
    response = await orders_client.request(method, path, params=params, headers=OPS)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["code"]


async def test_only_the_orders_customer_asks_and_only_for_a_paid_order(orders_client: httpx.AsyncClient) -> None:
    product = await create_product(orders_client, stock=10)
    unpaid = await new_order(orders_client, [(product, 1)])
    refused = await ask(orders_client, unpaid)
    assert refused.status_code == 409 and refused.json()["code"] == "ORDER_NOT_REFUNDABLE"
    order = await picked_up_order(orders_client)
    assert (await ask(orders_client, order, who="c2")).status_code == 404
    as_leader = await orders_client.post(
        f"/api/v1/orders/{order['id']}/after-sales",
        json={"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "missing"},
        headers=leader(),
    )
    assert as_leader.status_code == 403 and as_leader.json()["code"] == "NOT_ORDER_OWNER"


async def test_a_retried_request_with_the_same_key_asks_once(orders_client: httpx.AsyncClient) -> None:
    order = await picked_up_order(orders_client, price_fen=30_000, quantity=2)
    body = {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "quality"}
    headers = customer() | {"Idempotency-Key": "after-sale-1"}
    path = f"/api/v1/orders/{order['id']}/after-sales"
    first = await orders_client.post(path, json=body, headers=headers)
    second = await orders_client.post(path, json=body, headers=headers)
    assert first.status_code == second.status_code == 201 and first.json()["id"] == second.json()["id"]
    assert await line_state(orders_client, order) == (0, 1)
