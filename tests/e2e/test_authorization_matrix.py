"""The authorization matrix: every operation of the merged OpenAPI document, called through the gateway by every
kind of caller, on real objects, against the outcome declared in `tests/e2e/authorization_matrix.py`.

One stack serves the whole module (the four services and analytics behind the gateway, wired to each other): a
world is built once — a customer with orders in every state, their leader with commission, withdrawals and a
delivery batch, after-sale requests, a ticket, flash sales, a group-buy — and every cell then calls its operation
on the objects the table names. The objects belong to `customer` and `leader`; `other_customer`, `other_leader`
and `other_manager` are real users with objects of their own elsewhere, so their column is the "not owned" one.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from services.analytics.clients import HttpLeadersDirectory
from services.common.migrate import SERVICES
from services.common.permissions import ROLE_PERMISSIONS, Permission, StaffRole
from services.common.testing import (
    StaticServiceTokens,
    asgi_client,
    bearer,
    reset_database,
    service_bearer,
    sign_test_token,
)
from services.gateway.app import create_app as create_gateway
from services.gateway.routes import RouteTable
from tests.conftest import service_settings
from tests.e2e.authorization_matrix import (
    ALLOWED,
    COLUMNS,
    LEVEL,
    TABLE,
    Entry,
    World,
    flash_sale,
    format_row,
    group_buy,
    outcome_of,
    parse_row,
)
from tests.e2e.conftest import (
    GATEWAY_BASE_URL,
    URLS,
    Deliveries,
    RecordingTransport,
    Wiring,
    e2e_gateway_settings,
    ok,
    pay,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: Staff and their duties (`services.common.permissions.StaffRole`); `manager` manages `leader`, `other_manager`
#: manages `other_leader`. People (customers and leaders) are real WeChat users, made in `build_world`.
STAFF = {
    "ops": ("mx-ops", ["ops"]),
    "catalogue": ("mx-catalogue", ["catalogue"]),
    "finance": ("mx-finance", ["finance"]),
    "leader_admin": ("mx-leader-admin", ["leader_admin"]),
    "support": ("mx-support", ["support"]),
    "manager": ("mx-manager", ["manager"]),
    "other_manager": ("mx-other-manager", ["manager"]),
}
PEOPLE = ("customer", "other_customer", "leader", "other_leader")


@dataclass
class Stack:
    apps: dict[str, FastAPI]
    wiring: Wiring
    client: httpx.AsyncClient


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(database_urls: dict[str, str]) -> AsyncIterator[Stack]:
    overrides: dict[str, dict[str, Any]] = {
        # Commission becomes available at once (withdrawals on real money) and after-sale requests wait for review.
        "leaders": {"commission_freeze_days": 0},
        "orders": {"after_sale_auto_approve_limit_fen": 0, "dev_payments": True},
    }
    apps: dict[str, FastAPI] = {}
    for service in SERVICES:
        module = __import__(f"services.{service}.app", fromlist=["create_app"])
        app: FastAPI = module.create_app(service_settings(service, database_urls, **overrides.get(service, {})))
        if service != "accounts":
            app.state.service_tokens = StaticServiceTokens(service)
        await reset_database(app.state.db)
        apps[service] = app
    wiring = Wiring(apps)
    apps["analytics"].state.leaders = HttpLeadersDirectory(
        URLS["leaders"], StaticServiceTokens("analytics"), timeout_seconds=10, client=wiring.client
    )
    deliveries = Deliveries()
    transports: dict[str, httpx.AsyncBaseTransport] = {
        name: RecordingTransport(name, app, deliveries) for name, app in apps.items()
    }
    gateway = create_gateway(e2e_gateway_settings(), upstream_transports=transports)
    async with gateway.running():
        transport = httpx.ASGITransport(app=gateway, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=GATEWAY_BASE_URL) as client:
            yield Stack(apps, wiring, client)
    await wiring.client.aclose()
    for app in apps.values():
        await app.state.db.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def document(stack: Stack) -> dict[str, Any]:
    doc: dict[str, Any] = ok(await stack.client.get("/openapi.json"))
    assert not doc.get("x-missing-services")
    return doc


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    }


async def test_every_operation_of_the_document_has_a_row_and_every_row_an_operation(document: dict[str, Any]) -> None:
    documented = set(operations(document))
    assert sorted(documented - TABLE.keys()) == [], "operations without a row in authorization_matrix.TABLE"
    assert sorted(TABLE.keys() - documented) == [], "rows for operations the document no longer has"
    for key, entry in TABLE.items():
        assert len(parse_row(entry.expect)) == len(COLUMNS), key


# -- the world every cell calls on ------------------------------------------------------------------------------


def application(name: str) -> dict[str, Any]:
    point = {"name": f"{name} kiosk", "address": "3 Garden Road", "community": "Garden Court", "city": "上海市"}
    return {"name": "Wang Fang", "phone": "13800001234", "pickup_point": point}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def build_world(stack: Stack) -> World:
    c, wiring = stack.client, stack.wiring
    world = World()
    ids, callers = world.ids, world.callers
    callers["none"] = {}
    callers["service"] = service_bearer("orders")  # the identity it would be most useful to forge money with
    callers |= {column: bearer(sub, roles) for column, (sub, roles) in STAFF.items()}
    ops = callers["ops"]
    now = datetime.now(UTC)
    tz = stack.apps["orders"].state.settings.tz

    # People sign in with WeChat, as the mini-program does; leaders apply, are approved and refresh into `leader`.
    pairs: dict[str, dict[str, Any]] = {}
    for column in PEOPLE:
        pairs[column] = ok(await c.post("/api/v1/auth/wechat", json={"code": f"mx-{column}"}))
        callers[column] = auth(pairs[column]["access_token"])
        ids[f"{column}.id"] = ok(await c.get("/api/v1/me", headers=callers[column]))["id"]
    for column, manager in (("leader", "mx-manager"), ("other_leader", "mx-other-manager")):
        applied = ok(
            await c.post("/api/v1/leader-applications", headers=callers[column], json=application(column)), 201
        )
        url = f"/api/v1/leader-applications/{applied['id']}/approve"
        ok(await c.post(url, headers=ops, json={"manager_id": manager}))
    await wiring.deliver()  # leader.status_changed: accounts puts `leader` in the next tokens
    for column in ("leader", "other_leader"):
        renewed = ok(await c.post("/api/v1/auth/refresh", json={"refresh_token": pairs[column]["refresh_token"]}))
        callers[column] = auth(renewed["access_token"])
        ok(await c.get("/api/v1/leaders/me", headers=callers[column]))  # the refreshed token is a leader's
    customer, leader = callers["customer"], callers["leader"]
    leader_id, other_leader_id = ids["leader.id"], ids["other_leader.id"]
    ids["leader_id"], ids["user_id"] = leader_id, ids["customer.id"]

    async def apply(code: str) -> int:
        pair = ok(await c.post("/api/v1/auth/wechat", json={"code": code}))
        applied = ok(
            await c.post("/api/v1/leader-applications", headers=auth(pair["access_token"]), json=application(code)), 201
        )
        return int(applied["id"])

    applied = ok(await c.post("/api/v1/leader-applications", headers=customer, json=application("customer")), 201)
    ids["application_id"] = applied["id"]
    ids["application.approve"] = await apply("mx-applicant-1")
    ids["application.reject"] = await apply("mx-applicant-2")
    ok(await c.put("/api/v1/commission/levels/GOLD", headers=ops, json=LEVEL), 200, 201)
    ids["code"] = "GOLD"
    rule = {"scope": "default", "mode": "percentage", "rate_bp": 1000}
    ok(await c.post("/api/v1/commission/rules", headers=ops, json=rule), 201)

    category = ok(await c.post("/api/v1/categories", headers=ops, json={"name": "Fruit"}), 201)
    ids["category_id"] = category["id"]
    product = {"name": "Apples", "price_fen": 3000, "stock": 1000, "category_id": category["id"]}
    ids["product_id"] = ok(await c.post("/api/v1/products", headers=ops, json=product), 201)["id"]
    sku = {"name": "2kg", "price_fen": 3000, "stock": 100}
    ids["sku_id"] = ok(await c.post(f"/api/v1/products/{ids['product_id']}/skus", headers=ops, json=sku), 201)["id"]

    ok(await c.post(f"/api/v1/leaders/{leader_id}/members", headers=customer))
    ok(await c.post(f"/api/v1/leaders/{other_leader_id}/members", headers=callers["other_customer"]))

    async def place(who: dict[str, str], at: str = leader_id, quantity: int = 1) -> dict[str, Any]:
        body = {"leader_id": at, "lines": [{"product_id": ids["product_id"], "quantity": quantity}]}
        idempotent = who | {"Idempotency-Key": uuid.uuid4().hex}
        placed: dict[str, Any] = ok(await c.post("/api/v1/orders", headers=idempotent, json=body), 201)
        return placed

    async def paid(quantity: int = 1) -> dict[str, Any]:
        order = await place(customer, quantity=quantity)
        await pay(c, stack.apps["orders"], order, f"tx-mx-{order['id']}")
        return order

    async def arrived(quantity: int = 1) -> dict[str, Any]:
        order = await paid(quantity)
        ok(await c.post(f"/api/v1/orders/{order['id']}/arrive", headers=ops))
        return order

    async def code_of(order: dict[str, Any]) -> str:
        return str(ok(await c.get(f"/api/v1/orders/{order['id']}", headers=customer))["pickup_code"])

    main = await arrived(quantity=10)
    ok(await c.post(f"/api/v1/orders/{main['id']}/pickup", headers=leader, json={"pickup_code": await code_of(main)}))
    ids["order_id"], ids["line_id"], ids["pickup_date"] = main["id"], main["lines"][0]["id"], main["pickup_date"]
    ids["order.to_arrive"] = (await paid())["id"]
    to_pickup = await arrived()
    ids["order.to_pickup"], ids["pickup_code"] = to_pickup["id"], await code_of(to_pickup)
    to_refund = await paid(quantity=5)
    ids["order.to_refund"], ids["line.to_refund"] = to_refund["id"], to_refund["lines"][0]["id"]
    ids["order.to_cancel"] = (await place(customer))["id"]
    ids["order.to_pay"] = (await place(customer))["id"]
    ids["order.dev_pay"] = (await place(customer))["id"]
    other = await place(callers["other_customer"], other_leader_id)
    await pay(c, stack.apps["orders"], other, f"tx-mx-{other['id']}")

    async def after_sale() -> int:
        body = {"lines": [{"line_id": ids["line_id"], "quantity": 1}], "reason": "damaged"}
        made = ok(await c.post(f"/api/v1/orders/{ids['order_id']}/after-sales", headers=customer, json=body), 201)
        assert made["status"] == "pending", made
        return int(made["id"])

    for name in ("request_id", "request.approve", "request.reject", "request.escalate", "request.appeal"):
        ids[name] = await after_sale()
    url = f"/api/v1/after-sales/{ids['request.appeal']}/reject"
    ok(await c.post(url, headers=ops, json={"reason": "not damaged"}))

    # A refund on its way to the provider, for the refund routes.
    refund = {"lines": [{"line_id": ids["line.to_refund"], "quantity": 1}], "reason": "changed my mind"}
    ok(await c.post(f"/api/v1/orders/{to_refund['id']}/refunds", headers=customer, json=refund), 200, 201)
    ok(await c.post("/api/v1/payments/refunds/run", headers=ops), 200, 201)
    [provider_refund] = ok(await c.get("/api/v1/payments/refunds", headers=ops))["items"]
    ids["provider_refund_id"] = provider_refund["id"]  # the path names our row, not the provider's id

    await wiring.deliver()
    ok(await c.post("/api/v1/commission/settle", headers=ops), 200, 201)
    balance = ok(await c.get(f"/api/v1/leaders/{leader_id}/commission/balance", headers=leader))
    assert balance["available_fen"] >= 1000, balance
    for name in ("withdrawal_id", "withdrawal.approve", "withdrawal.reject"):
        asked = await c.post(
            f"/api/v1/leaders/{leader_id}/withdrawals",
            headers=leader | {"Idempotency-Key": uuid.uuid4().hex},
            json={"amount_fen": 100},
        )
        ids[name] = ok(asked, 201)["id"]

    cutoff = ok(await c.post("/api/v1/delivery-batches/cutoff", headers=ops, json={"pickup_date": ids["pickup_date"]}))
    ids["batch_id"] = next(b["id"] for b in cutoff["batches"] if b["leader_id"] == leader_id)

    ticket = {"kind": "suggestion", "text": "please stock oat milk", "order_id": ids["order_id"]}
    for name in ("ticket_id", "ticket.to_close"):
        ids[name] = ok(await c.post("/api/v1/tickets", headers=customer, json=ticket), 201)["id"]

    for name in ("sale_id", "sale.end"):
        ids[name] = ok(await c.post("/api/v1/flash-sales", headers=ops, json=flash_sale(world)), 201)["id"]
    ids["group_buy_id"] = ok(await c.post("/api/v1/group-buys", headers=ops, json=group_buy(world)), 201)["id"]

    staff = {"username": "mx.staff", "display_name": "Zhao", "roles": ["support"], "password": "correct horse 42"}
    ids["staff_id"] = ok(await c.post("/api/v1/staff", headers=ops, json=staff), 201)["id"]
    ok(await c.post("/api/v1/customer-tags", headers=ops, json={"code": "vip", "name": "VIP"}), 201)
    ids["tag"] = "vip"
    ids["invite_code"] = ok(await c.get("/api/v1/referrals/me", headers=customer))["code"]
    ids["period"] = now.astimezone(tz).strftime("%Y-%m")
    ids["bill_date"] = (now.astimezone(tz) - timedelta(days=1)).date().isoformat()
    ok(await c.post(f"/api/v1/payments/reconciliations/{ids['bill_date']}", headers=ops))
    ids["segment"] = "all"

    await wiring.deliver()
    # A dead letter in every service's outbox, for the replay routes.
    for service, relay in wiring.relays.items():
        event_id = str(uuid.uuid4())
        dead = {"event_id": event_id, "type": "matrix.dead", "aggregate": "", "occurred_at": now, "data": {}}
        async with stack.apps[service].state.db.engine.begin() as conn:
            await conn.execute(relay.table.insert().values(**dead, status="dead", attempts=3))
        ids[f"event.{service}"] = event_id
    return world


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(stack: Stack) -> World:
    return await build_world(stack)


PARAMETER = re.compile(r"\{([^}]+)\}")


async def call(c: httpx.AsyncClient, key: str, entry: Entry, world: World, column: str) -> httpx.Response:
    method, path = key.split(" ", 1)
    url = PARAMETER.sub(lambda m: str(world[entry.path.get(m.group(1), m.group(1))]), path)
    headers = dict(world.callers[column])
    if method != "GET":
        headers["Idempotency-Key"] = uuid.uuid4().hex
    body = entry.body(world) if entry.body is not None else None
    query = {name: str(world[value]) if value in world.ids else value for name, value in entry.query.items()}
    return await c.request(method, url, headers=headers, params=query or None, json=body)


def problem_code(response: httpx.Response) -> str:
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        return str(response.json().get("code", ""))
    return ""


async def test_every_caller_gets_what_the_matrix_declares_on_every_operation(stack: Stack, world: World) -> None:
    wrong: list[str] = []
    observed_rows: dict[str, str] = {}
    outcomes: Counter[str] = Counter()
    leaks = 0
    for key, entry in TABLE.items():
        expected = parse_row(entry.expect)
        observed, notes = [], []
        for column, want in zip(COLUMNS, expected, strict=True):
            response = await call(stack.client, key, entry, world, column)
            got = outcome_of(response.status_code)
            observed.append(got)
            outcomes[got] += 1
            if got != want:
                notes.append(f"{column}: declared {want}, got {response.status_code} {problem_code(response)}")
                leaks += got == ALLOWED  # let through where the table refuses
            elif entry.lists is not None and got == ALLOWED:
                obj, reader, owner = entry.lists
                listed = world[obj] in [item["id"] for item in response.json()["items"]]
                may_read = parse_row(TABLE[reader].expect)[COLUMNS.index(column)] == ALLOWED
                if listed and not may_read:
                    notes.append(f"{column}: lists {obj}, which {reader} refuses them")
                    leaks += 1
                elif column == owner and not listed:
                    notes.append(f"{column}: does not find their own {obj} in the list")
            # A service identity never gets past a public route, whatever the table says.
            assert column != "service" or response.status_code == 401, (key, response.status_code)
        if notes:
            wrong.append(f"{key}: " + "; ".join(notes))
            observed_rows[key] = format_row(observed)
    cells = sum(outcomes.values())
    print(f"authorization matrix: {len(TABLE)} operations x {len(COLUMNS)} callers = {cells} cells, {dict(outcomes)}")
    print(f"leaks (refused in the table, let through): {leaks}")
    assert cells == len(TABLE) * len(COLUMNS)
    assert wrong == [], "observed rows:\n" + "\n".join(f'    "{k}": "{v}"' for k, v in observed_rows.items())


async def test_the_table_agrees_with_the_duties_and_roles_the_document_declares(document: dict[str, Any]) -> None:
    """The table is written by hand; where the document already says who may call (a staff route's permission, a
    route's roles), the table must say the same: staff pass exactly where their duty holds the permission
    (`services.common.permissions`), people never pass a staff route, staff never pass a route for other roles."""
    disagreements = []
    for key, operation in operations(document).items():
        row = dict(zip(COLUMNS, parse_row(TABLE[key].expect), strict=True))
        declared: dict[str, str] = {"service": "401"}
        if operation.get("security"):
            declared["none"] = "401"
        if "x-permission" in operation:
            permission = Permission(operation["x-permission"])
            for column, (_, roles) in STAFF.items():
                declared[column] = ALLOWED if permission in ROLE_PERMISSIONS[StaffRole(roles[0])] else "403"
            declared |= dict.fromkeys(PEOPLE, "403")
        elif "x-roles" in operation and not set(operation["x-roles"]) & set(StaffRole):
            declared |= dict.fromkeys(STAFF, "403")
        disagreements += [
            f"{key} {c}: table {row[c]}, document {want}" for c, want in declared.items() if row[c] != want
        ]
    assert disagreements == []


async def test_a_service_identity_is_refused_by_the_services_themselves_on_every_public_route(
    stack: Stack, world: World, document: dict[str, Any]
) -> None:
    """The gateway refuses a service token on a public route (the matrix's `service` column); a service reached
    directly, past the gateway, refuses it too — as issued (audience `groupbuy-internal`) and as forged into the
    public audience — so no service identity is ever taken for a person, let alone for ops."""
    routes = RouteTable()
    forged = {"Authorization": f"Bearer {sign_test_token('svc:orders', ['service'])}"}
    let_through = []
    guarded = {key for key, operation in operations(document).items() if operation.get("security")}
    for key, entry in TABLE.items():
        if key not in guarded:
            continue  # sign-in, keys and provider notifications read no bearer token
        _, path = key.split(" ", 1)
        service = routes.match(path)
        assert service is not None, key
        async with asgi_client(stack.apps[service]) as direct:
            for headers in (service_bearer("orders"), forged):
                caller = World(ids=world.ids, callers={"service": headers})
                response = await call(direct, key, entry, caller, "service")
                if response.status_code not in (401, 403):
                    let_through.append(f"{service}: {key} {response.status_code}")
    assert let_through == []
