"""Who may call what: one row per operation of the merged OpenAPI document, one cell per kind of caller.

A cell says what the caller gets through the gateway:

- `ok`   authorized: anything but 401, 403, 404 and 5xx (a 409 or 422 from the state of the object or the body, which
         the service checks only after the caller, proves the caller got past every access check);
- `401`  no valid token for this route: nobody signed in, or a service identity on a public route;
- `403`  refused by role or duty (`MISSING_ROLE`, `MISSING_PERMISSION`) or, on an object the caller may see, by what
         they may do to it (`NOT_ORDER_OWNER`, `NOT_YOUR_LEADER_ACCOUNT`...);
- `404`  refused by hiding: the object is not the caller's, and the API answers as if it did not exist.

Columns: `none` (no token), `customer` and `leader` (who own the world's objects: the customer's orders are at the
leader's pickup point), `other_customer` and `other_leader` (real users with objects of their own elsewhere: the
"not owned" column), one per staff duty (`services.common.permissions.StaffRole`), `manager` (the leader's manager),
`other_manager` (a manager of another leader) and `service` (a service identity's token, which no public route takes).

A row also names the objects its path parameters take (keys of `World.ids`; by default the parameter's own name)
and, for writes, the body: valid, so the access check, which the services make after validating the body, is
reached. Where the first authorized caller changes the object (approves, cancels, picks up), later authorized
callers get a 409, which still proves they were let through. Rows run in the table's order; the last ones change
the callers themselves (sign-out, leaving a community, erasure).

A new operation in the document without a row, or a row whose operation is gone, fails `test_authorization_matrix`.
To add a row: name its objects and body, declare what each caller must get from what the API documents, and run
the test; when a cell disagrees it prints the row it observed. A cell that lets a caller through where the row
refuses them is a leak: fix the access check (the resource's `access.py`), never the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

COLUMNS = (
    "none",
    "customer",
    "other_customer",
    "leader",
    "other_leader",
    "ops",
    "catalogue",
    "finance",
    "leader_admin",
    "support",
    "manager",
    "other_manager",
    "service",
)
OUTCOMES = ("ok", "401", "403", "404")
#: Statuses that mean the caller was refused by the access rules.
REFUSALS = {401, 403, 404}


@dataclass
class World:
    """The objects every cell calls on, by name (`order_id`, `order.to_cancel`, ...), built once per module."""

    ids: dict[str, Any] = field(default_factory=dict)
    #: The Authorization header of each column's caller (nothing for `none`).
    callers: dict[str, dict[str, str]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.ids[key]


Body = Callable[[World], Any]


@dataclass(frozen=True)
class Entry:
    expect: str
    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Body | None = None
    #: Why the `ok` cells prove authorization when the call does not succeed outright.
    why: str = ""
    #: For a list: (an object, the row that reads it, its owner's column). Whoever that row refuses must not find the
    #: object in the list's `items` (a list is filtered, not refused: its own row says `ok`); its owner must.
    lists: tuple[str, str, str] | None = None


def format_row(cells: list[str]) -> str:
    """Cells padded to line up under the table's header comment."""
    return " ".join(f"{cell:<3}" for cell in cells).rstrip()


def parse_row(expect: str) -> list[str]:
    cells = expect.split()
    assert all(cell in OUTCOMES for cell in cells), expect
    return cells


def outcome_of(status: int) -> str:
    """The cell a status stands for (a 5xx stands for nothing: it fails every cell)."""
    if status >= 500:
        return str(status)
    return str(status) if status in REFUSALS else "ok"


ALLOWED = "ok"
#: Sign-in and key routes: a bearer token changes nothing, a service token is refused by the gateway (401) everywhere.
ANONYMOUS = "anonymous on purpose"

APPLICATION: dict[str, Any] = {
    "name": "Wang Fang",
    "phone": "13800001234",
    "pickup_point": {"name": "Gate 3 kiosk", "address": "3 Garden Road", "community": "Garden Court", "city": "上海市"},
}
LEVEL = {"name": "Gold", "rank": 1, "min_sales_fen": 100_000, "min_completed_orders": 10}


def reconciliation_window(w: World) -> dict[str, str]:
    now = datetime.now(UTC)
    return {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}


def flash_sale(w: World) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "product_id": w["product_id"],
        "price_fen": 990,
        "stock": 50,
        "per_user_limit": 1,
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
    }


def group_buy(w: World) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "title": "Apples the day after tomorrow",
        "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "pickup_date": (now + timedelta(days=2)).date().isoformat(),
        "pickup_starts": "10:00",
        "pickup_ends": "20:00",
        "regions": ["上海市"],
        "items": [{"product_id": w["product_id"], "price_fen": 2500, "per_customer_limit": 2}],
    }


TABLE: dict[str, Entry] = {
    #        none cust ocus ldr  oldr ops  cat  fin  ladm sup  mgr  omgr svc
    "POST /api/v1/auth/wechat": Entry(
        "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        why=ANONYMOUS,
        body=lambda w: {"code": "mx-matrix-sign-in"},
    ),
    "POST /api/v1/auth/refresh": Entry(
        "401 401 401 401 401 401 401 401 401 401 401 401 401",
        why="Only a refresh token renews (this one is wrong: 401 REFRESH_TOKEN_INVALID); no bearer stands in for it.",
        body=lambda w: {"refresh_token": "not-a-refresh-token"},
    ),
    "POST /api/v1/auth/staff": Entry(
        "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        why=ANONYMOUS,
        body=lambda w: {"username": "mx.staff", "password": "correct horse 42"},
    ),
    "GET /api/v1/me": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
    "PATCH /api/v1/me": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
        body=lambda w: {"nickname": "Li"},
    ),
    "POST /api/v1/me/phone": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
        body=lambda w: {"code": "mx-phone"},
    ),
    "GET /api/v1/me/export": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
    "GET /api/v1/users/{user_id}": Entry(
        "401 403 403 403 403 ok  ok  ok  ok  ok  ok  ok  401",
    ),
    "POST /api/v1/staff": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        body=lambda w: {
            "username": f"mx.{uuid.uuid4().hex[:12]}",
            "display_name": "Qian",
            "roles": ["support"],
            "password": "correct horse 42",
        },
    ),
    "GET /api/v1/staff": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/staff/{staff_id}": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/audit-log": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
    ),
    "PATCH /api/v1/staff/{staff_id}": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        body=lambda w: {"display_name": "Zhao Li"},
    ),
    "GET /.well-known/jwks.json": Entry(
        "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        why=ANONYMOUS,
    ),
    "POST /api/v1/auth/dev-token": Entry(
        "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        why=ANONYMOUS,
        body=lambda w: {"sub": "mx-dev", "roles": ["customer"]},
    ),
    "GET /api/v1/events/accounts/outbox": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/events/accounts/dead-letters": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "POST /api/v1/events/accounts/dead-letters/{event_id}/replay": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        why="A real dead letter: ops replay it; nobody else may.",
        path={"event_id": "event.accounts"},
    ),
    "GET /api/v1/leaders/{leader_id}/community/segments": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/community/segments.csv": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/community/segments/{segment}/members": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/community/segments/{segment}/members.csv": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/community/stats": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/community/stats.csv": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/community/cohorts": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/community/cohorts.csv": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/community/activity": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/community/activity.csv": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/community/chart.png": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/dashboard": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 ok  403 401",
    ),
    "GET /api/v1/analytics/overview": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/analytics/overview.csv": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/analytics/activity": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/analytics/activity.csv": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/analytics/leaders": Entry(
        "401 403 403 403 403 ok  403 403 ok  403 ok  ok  401",
    ),
    "GET /api/v1/analytics/leaders.csv": Entry(
        "401 403 403 403 403 ok  403 403 ok  403 ok  ok  401",
    ),
    "GET /api/v1/analytics/alerts": Entry(
        "401 403 403 403 403 ok  403 403 ok  403 ok  ok  401",
    ),
    "GET /api/v1/analytics/alerts.csv": Entry(
        "401 403 403 403 403 ok  403 403 ok  403 ok  ok  401",
    ),
    "GET /api/v1/analytics/flash-sales": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/analytics/flash-sales.csv": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/customer-tags": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
    ),
    "POST /api/v1/customer-tags": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        body=lambda w: {"code": f"t{uuid.uuid4().hex[:12]}", "name": "Early bird"},
    ),
    "GET /api/v1/customers/{user_id}/tags": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "PUT /api/v1/customers/{user_id}/tags/{tag}": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "DELETE /api/v1/customers/{user_id}/tags/{tag}": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/events/analytics/outbox": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/events/analytics/dead-letters": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "POST /api/v1/events/analytics/dead-letters/{event_id}/replay": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        why="A real dead letter: ops replay it; nobody else may.",
        path={"event_id": "event.analytics"},
    ),
    "POST /api/v1/leader-applications": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
        why="409 for the customer (an application pending) and the leaders (ALREADY_A_LEADER): checked after the role.",
        body=lambda w: APPLICATION,
    ),
    "GET /api/v1/leader-applications": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        lists=("application_id", "GET /api/v1/leader-applications/{application_id}", "customer"),
    ),
    "GET /api/v1/leader-applications/{application_id}": Entry(
        "401 ok  404 404 404 ok  404 ok  ok  404 404 404 401",
    ),
    "POST /api/v1/leader-applications/{application_id}/approve": Entry(
        "401 403 403 403 403 ok  403 403 ok  403 403 403 401",
        why="The first allowed caller approves; later ones get 409 APPLICATION_ALREADY_DECIDED.",
        path={"application_id": "application.approve"},
    ),
    "POST /api/v1/leader-applications/{application_id}/reject": Entry(
        "401 403 403 403 403 ok  403 403 ok  403 403 403 401",
        why="The first allowed caller rejects; later ones get 409 APPLICATION_ALREADY_DECIDED.",
        path={"application_id": "application.reject"},
        body=lambda w: {"reason": "incomplete"},
    ),
    "GET /api/v1/leaders": Entry(
        "401 403 403 403 403 ok  403 ok  ok  403 ok  ok  401",
    ),
    "GET /api/v1/leaders/me": Entry(
        "401 403 403 ok  ok  403 403 403 403 403 403 403 401",
    ),
    "GET /api/v1/leaders/{leader_id}": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
    ),
    "PATCH /api/v1/leaders/{leader_id}": Entry(
        "401 403 403 403 403 ok  403 403 ok  403 403 403 401",
        body=lambda w: {"manager_id": "mx-manager"},
    ),
    "PUT /api/v1/leaders/{leader_id}/pickup-point": Entry(
        "401 403 403 ok  403 ok  403 403 ok  403 403 403 401",
        body=lambda w: APPLICATION["pickup_point"],
    ),
    "GET /api/v1/leaders/{leader_id}/history": Entry(
        "401 403 403 ok  403 ok  403 ok  ok  403 ok  403 401",
    ),
    "POST /api/v1/leaders/{leader_id}/members": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/members": Entry(
        "401 403 403 ok  403 ok  403 ok  ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/members/history": Entry(
        "401 403 403 ok  403 ok  403 ok  ok  403 ok  403 401",
    ),
    "GET /api/v1/me/community": Entry(
        "401 ok  ok  ok  ok  404 404 404 404 404 404 404 401",
        why="Staff belong to no community: 404 NO_COMMUNITY, the answer for anyone without one, not a refusal.",
    ),
    "GET /api/v1/pickup-points": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        query={"lat": "31.23", "lng": "121.47"},
    ),
    "PUT /api/v1/commission/levels/{code}": Entry(
        "401 403 403 403 403 ok  403 403 ok  403 403 403 401",
        body=lambda w: LEVEL,
    ),
    "GET /api/v1/commission/levels": Entry(
        "401 403 403 403 403 ok  403 ok  ok  403 ok  ok  401",
    ),
    "POST /api/v1/commission/level-evaluations": Entry(
        "401 403 403 403 403 ok  403 403 ok  403 403 403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/level-changes": Entry(
        "401 403 403 ok  403 ok  403 ok  ok  403 ok  403 401",
    ),
    "GET /api/v1/commission/rules": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
    ),
    "POST /api/v1/commission/rules": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
        body=lambda w: {"scope": "default", "mode": "percentage", "rate_bp": 1000},
    ),
    "POST /api/v1/commission/settle": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/commission/balance": Entry(
        "401 403 403 ok  403 ok  403 ok  ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/commission/entries": Entry(
        "401 403 403 ok  403 ok  403 ok  ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/commission/statements/{period}": Entry(
        "401 403 403 ok  403 ok  403 ok  ok  403 ok  403 401",
    ),
    "GET /api/v1/leaders/{leader_id}/commission/statements/{period}.csv": Entry(
        "401 403 403 ok  403 ok  403 ok  ok  403 ok  403 401",
    ),
    "POST /api/v1/leaders/{leader_id}/withdrawals": Entry(
        "401 403 403 ok  403 403 403 403 403 403 403 403 401",
        why="Real money: the leader withdraws 100 fen of available commission.",
        body=lambda w: {"amount_fen": 100},
    ),
    "GET /api/v1/leaders/{leader_id}/withdrawals": Entry(
        "401 403 403 ok  403 ok  403 ok  ok  403 ok  403 401",
        lists=("withdrawal_id", "GET /api/v1/withdrawals/{withdrawal_id}", "leader"),
    ),
    "GET /api/v1/withdrawals": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
    ),
    "GET /api/v1/withdrawals/{withdrawal_id}": Entry(
        "401 404 404 ok  404 ok  404 ok  ok  404 ok  404 401",
    ),
    "POST /api/v1/withdrawals/{withdrawal_id}/approve": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
        why="Real money: the first allowed caller pays it out; later ones get 409 WITHDRAWAL_ALREADY_DECIDED.",
        path={"withdrawal_id": "withdrawal.approve"},
    ),
    "POST /api/v1/withdrawals/{withdrawal_id}/reject": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
        why="The first allowed caller rejects (the amount returns); later ones get 409 WITHDRAWAL_ALREADY_DECIDED.",
        path={"withdrawal_id": "withdrawal.reject"},
        body=lambda w: {"reason": "wrong account"},
    ),
    "GET /api/v1/events/leaders/outbox": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/events/leaders/dead-letters": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "POST /api/v1/events/leaders/dead-letters/{event_id}/replay": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        why="A real dead letter: ops replay it; nobody else may.",
        path={"event_id": "event.leaders"},
    ),
    "POST /api/v1/flash-sales/{sale_id}/orders": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
        body=lambda w: {"leader_id": w["leader_id"], "quantity": 1},
    ),
    "POST /api/v1/flash-sales": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
        body=flash_sale,
    ),
    "GET /api/v1/flash-sales": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
    ),
    "GET /api/v1/flash-sales/{sale_id}": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
    ),
    "POST /api/v1/flash-sales/{sale_id}/end": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
        path={"sale_id": "sale.end"},
    ),
    "GET /api/v1/flash-sales/{sale_id}/reconciliation": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
    ),
    "POST /api/v1/products": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
        body=lambda w: {"name": "Pears", "price_fen": 990, "stock": 5},
    ),
    "GET /api/v1/products": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
    ),
    "GET /api/v1/products/{product_id}": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
    ),
    "PATCH /api/v1/products/{product_id}": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
        body=lambda w: {"description": "Crisp"},
    ),
    "POST /api/v1/products/{product_id}/skus": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
        body=lambda w: {"name": f"box {uuid.uuid4().hex[:6]}", "price_fen": 5000, "stock": 10},
    ),
    "PATCH /api/v1/products/{product_id}/skus/{sku_id}": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
        body=lambda w: {"stock": 100},
    ),
    "GET /api/v1/products/{product_id}/price-history": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
    ),
    "POST /api/v1/orders": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
        body=lambda w: {
            "leader_id": w["leader_id"],
            "lines": [{"product_id": w["product_id"], "sku_id": w["sku_id"], "quantity": 1}],
        },
    ),
    "GET /api/v1/orders": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        lists=("order_id", "GET /api/v1/orders/{order_id}", "customer"),
    ),
    "GET /api/v1/orders/{order_id}": Entry(
        "401 ok  404 ok  404 ok  404 ok  404 ok  404 404 401",
    ),
    "GET /api/v1/orders/{order_id}/log": Entry(
        "401 ok  404 ok  404 ok  404 ok  404 ok  404 404 401",
    ),
    "POST /api/v1/orders/{order_id}/cancel": Entry(
        "401 ok  404 403 404 ok  404 404 404 404 404 404 401",
        why="The owner cancels; staff with orders.operate then get 409 ORDER_NOT_CANCELLABLE.",
        path={"order_id": "order.to_cancel"},
    ),
    "POST /api/v1/orders/{order_id}/arrive": Entry(
        "401 403 404 ok  404 ok  404 404 404 404 404 404 401",
        why="The order's leader marks it arrived; ops then get 409 INVALID_ORDER_STATE.",
        path={"order_id": "order.to_arrive"},
    ),
    "POST /api/v1/orders/{order_id}/pickup": Entry(
        "401 403 404 ok  404 ok  404 404 404 404 404 404 401",
        why="The order's leader hands over with the right code; ops then get 409 INVALID_ORDER_STATE.",
        path={"order_id": "order.to_pickup"},
        body=lambda w: {"pickup_code": w["pickup_code"]},
    ),
    "POST /api/v1/orders/{order_id}/refunds": Entry(
        "401 ok  404 403 404 ok  404 ok  404 404 404 404 401",
        why="Real money: refunds.decide staff refund; the owner gets 409 AFTER_SALE_REQUIRED (out for delivery).",
        path={"order_id": "order.to_refund"},
        body=lambda w: {"lines": [{"line_id": w["line.to_refund"], "quantity": 1}], "reason": "changed my mind"},
    ),
    "GET /api/v1/orders/{order_id}/refunds": Entry(
        "401 ok  404 ok  404 ok  404 ok  404 ok  404 404 401",
    ),
    "POST /api/v1/orders/{order_id}/payment": Entry(
        "401 ok  404 403 404 404 404 404 404 404 404 404 401",
        why="The owner gets payment parameters; staff act on nobody's payment (404).",
        path={"order_id": "order.to_pay"},
    ),
    "POST /api/v1/payments/wechat/notify": Entry(
        "404 404 404 404 404 404 404 404 404 404 404 404 401",
        why="WeChat Pay is not the provider in this stack: 404 for everyone; its signature checks are in tests/orders.",
        body=lambda w: {"id": "forged"},
    ),
    "POST /api/v1/payments/notify": Entry(
        "401 401 401 401 401 401 401 401 401 401 401 401 401",
        why="Only the provider's signature authorizes it: unsigned, 401 INVALID_SIGNATURE for everyone, ops included.",
        body=lambda w: {"order_id": w["order_id"], "transaction_id": "tx-forged", "amount_fen": 1},
    ),
    "GET /api/v1/payments": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
    ),
    "GET /api/v1/payments/notifications": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
    ),
    "POST /api/v1/payments/refunds/run": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
    ),
    "GET /api/v1/payments/refunds": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
    ),
    "POST /api/v1/payments/refunds/{provider_refund_id}/retry": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
        why="A refund on its way, not parked: refunds.decide staff get 409 REFUND_NOT_PARKED.",
    ),
    "GET /api/v1/payments/reconciliations/{bill_date}": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
    ),
    "POST /api/v1/payments/reconciliations/{bill_date}": Entry(
        "401 403 403 403 403 ok  403 ok  403 403 403 403 401",
    ),
    "POST /api/v1/dev/orders/{order_id}/pay": Entry(
        "401 ok  404 403 404 404 404 404 404 404 404 404 401",
        why="The owner pays; later callers would get 409 ORDER_NOT_PAYABLE.",
        path={"order_id": "order.dev_pay"},
    ),
    "POST /api/v1/delivery-batches/cutoff": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/delivery-batches": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        lists=("batch_id", "GET /api/v1/delivery-batches/{batch_id}", "leader"),
    ),
    "GET /api/v1/delivery-batches/{batch_id}": Entry(
        "401 404 404 ok  404 ok  404 404 404 404 404 404 401",
    ),
    "POST /api/v1/delivery-batches/{batch_id}/receive": Entry(
        "401 404 404 ok  404 ok  404 404 404 404 404 404 401",
        why="The batch's leader confirms receipt; ops then get 409 DELIVERY_BATCH_ALREADY_RECEIVED.",
    ),
    "POST /api/v1/reconciliation": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        body=reconciliation_window,
    ),
    "POST /api/v1/orders/{order_id}/after-sales": Entry(
        "401 ok  404 403 404 403 404 403 404 403 404 404 401",
        body=lambda w: {"lines": [{"line_id": w["line_id"], "quantity": 1}], "reason": "damaged"},
    ),
    "GET /api/v1/after-sales": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        lists=("request_id", "GET /api/v1/after-sales/{request_id}", "customer"),
    ),
    "GET /api/v1/after-sales/{request_id}": Entry(
        "401 ok  404 ok  404 ok  404 ok  404 ok  404 404 401",
    ),
    "POST /api/v1/after-sales/{request_id}/approve": Entry(
        "401 403 404 ok  404 ok  404 ok  404 ok  404 404 401",
        why="Real money: the order's leader approves and refunds; staff then get 409 AFTER_SALE_NOT_OPEN.",
        path={"request_id": "request.approve"},
    ),
    "POST /api/v1/after-sales/{request_id}/reject": Entry(
        "401 403 404 403 404 ok  404 ok  404 ok  404 404 401",
        why="Ops reject first; finance and support then get 409 AFTER_SALE_NOT_OPEN.",
        path={"request_id": "request.reject"},
        body=lambda w: {"reason": "not damaged"},
    ),
    "POST /api/v1/after-sales/{request_id}/escalate": Entry(
        "401 403 404 ok  404 ok  404 ok  404 ok  404 404 401",
        why="The order's leader escalates; staff then get 409 AFTER_SALE_NOT_OPEN.",
        path={"request_id": "request.escalate"},
    ),
    "POST /api/v1/after-sales/{request_id}/appeal": Entry(
        "401 ok  404 403 404 403 404 403 404 403 404 404 401",
        path={"request_id": "request.appeal"},
        body=lambda w: {"reason": "it was damaged"},
    ),
    "GET /api/v1/shortages": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "POST /api/v1/tickets": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
        body=lambda w: {"kind": "suggestion", "text": "more pears"},
    ),
    "GET /api/v1/tickets": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        lists=("ticket_id", "GET /api/v1/tickets/{ticket_id}", "customer"),
    ),
    "GET /api/v1/tickets/{ticket_id}": Entry(
        "401 ok  404 404 404 ok  404 404 404 ok  404 404 401",
    ),
    "PATCH /api/v1/tickets/{ticket_id}": Entry(
        "401 ok  404 404 404 ok  404 404 404 ok  404 404 401",
        why="The opener closes the ticket; support then get 409 TICKET_CLOSED.",
        path={"ticket_id": "ticket.to_close"},
        body=lambda w: {"status": "closed"},
    ),
    "POST /api/v1/tickets/{ticket_id}/replies": Entry(
        "401 ok  404 404 404 ok  404 404 404 ok  404 404 401",
        body=lambda w: {"text": "thank you"},
    ),
    "GET /api/v1/categories": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
    ),
    "POST /api/v1/categories": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
        body=lambda w: {"name": f"Veg {uuid.uuid4().hex[:6]}"},
    ),
    "PATCH /api/v1/categories/{category_id}": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
        body=lambda w: {"sort_order": 2},
    ),
    "POST /api/v1/group-buys": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
        body=group_buy,
    ),
    "GET /api/v1/group-buys": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        query={"leader_id": "leader_id"},
    ),
    "GET /api/v1/group-buys/{group_buy_id}": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
        query={"leader_id": "leader_id"},
    ),
    "GET /api/v1/group-buys/{group_buy_id}/outcomes": Entry(
        "401 403 403 403 403 ok  ok  403 403 403 403 403 401",
    ),
    "GET /api/v1/procurement/{pickup_date}": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/procurement/{pickup_date}.csv": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/procurement/{pickup_date}/pick-lists": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/procurement/{pickup_date}/pick-lists.csv": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/events/orders/outbox": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/events/orders/dead-letters": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "POST /api/v1/events/orders/dead-letters/{event_id}/replay": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        why="A real dead letter: ops replay it; nobody else may.",
        path={"event_id": "event.orders"},
    ),
    "GET /api/v1/points/me": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
    "GET /api/v1/points/me/entries": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
    "GET /api/v1/points/users/{user_id}": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/points/users/{user_id}/entries": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "POST /api/v1/points/adjustments": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        body=lambda w: {"user_id": w["user_id"], "points": 10, "reason": "goodwill"},
    ),
    "POST /api/v1/points/sign-ins": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
    "GET /api/v1/points/tasks": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
    "GET /api/v1/points/rules": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "PUT /api/v1/points/rules": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        why="Puts the default rules in force again.",
        body=lambda w: {"newcomer_points": 100},
    ),
    "GET /api/v1/referrals/me": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
    "GET /api/v1/referrals/me/invitees": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
    "POST /api/v1/referrals/bind": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
        why="The customer binding their own code gets 422 SELF_INVITE: checked after the role.",
        body=lambda w: {"code": w["invite_code"]},
    ),
    "GET /api/v1/events/points/outbox": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "GET /api/v1/events/points/dead-letters": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
    ),
    "POST /api/v1/events/points/dead-letters/{event_id}/replay": Entry(
        "401 403 403 403 403 ok  403 403 403 403 403 403 401",
        why="A real dead letter: ops replay it; nobody else may.",
        path={"event_id": "event.points"},
    ),
    # Last: these change the callers themselves (sessions, communities, accounts).
    "POST /api/v1/auth/logout": Entry(
        "401 ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  ok  401",
    ),
    "DELETE /api/v1/leaders/{leader_id}/members/me": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
    "DELETE /api/v1/me": Entry(
        "401 ok  ok  ok  ok  403 403 403 403 403 403 403 401",
    ),
}
