"""Separate duties: every route names who may call it, and staff duties are checked through permissions.

The route check walks every route of every service app and the merged document: an operation with a bearer token
says who may call it (`x-permission` for a staff route, `x-staff-permissions` for a route where staff act on other
people's objects, `x-roles`, `x-signed-in`, or `x-service-identity`). Staff get, on a route, only the permissions it
names, so a route that names none gives staff nothing a customer does not have. What each caller then gets on each
operation, every staff duty included, is the authorization matrix (`test_authorization_matrix.py`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from services.common.auth import bearer_auth_of
from services.common.permissions import Permission
from services.common.testing import bearer
from tests.e2e.conftest import ok

REPO = Path(__file__).resolve().parents[2]
CALLER_KEYS = ("x-permission", "x-staff-permissions", "x-roles", "x-signed-in", "x-service-identity")
#: Routes a caller reaches without a bearer token, on purpose.
ANONYMOUS = {
    ("POST", "/api/v1/auth/wechat"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/staff"),
    ("POST", "/api/v1/auth/dev-token"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/internal/service-tokens"),  # client credentials in the body
    ("POST", "/api/v1/payments/notify"),  # signed by the payment provider
    ("POST", "/api/v1/payments/wechat/notify"),  # signed by WeChat Pay
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}


def api_routes(app: FastAPI) -> list[tuple[str, set[str], APIRoute]]:
    """(path, methods, route) of every API route, as the app serves them (included routers' prefixes applied)."""
    found = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            found.append((str(context.path), set(context.methods or ()), context.original_route))
    return found


def test_every_route_of_every_service_says_who_may_call_it(service_apps: dict[str, FastAPI]) -> None:
    unguarded, internal_for_people = [], []
    for service, app in service_apps.items():
        routes = api_routes(app)
        assert len(routes) > 5, service
        for path, methods, route in routes:
            auth = bearer_auth_of(route)
            for method in methods:
                where = f"{service}: {method} {path}"
                if auth is None:
                    if (method, path) not in ANONYMOUS:
                        unguarded.append(where)
                elif path.startswith("/internal/") != auth.internal:
                    internal_for_people.append(where)
    assert unguarded == [], "routes without a bearer token that are not meant to be public"
    assert internal_for_people == [], "internal routes take service identities only, public routes never"


def test_the_merged_document_names_the_callers_of_every_operation(document: dict[str, Any]) -> None:
    missing, unnamed_staff = [], []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if operation.get("security") and not any(key in operation for key in CALLER_KEYS):
                missing.append(f"{method.upper()} {path}")
            # A summary saying an operation is for ops, with no permission named, is a staff route left unnamed.
            if re.search(r"\(ops\b", operation.get("summary", "")) and "x-permission" not in operation:
                unnamed_staff.append(f"{method.upper()} {path}")
            # A permission the summary names is one the document declares: the rule shown is the route's own, not
            # that of a dependency authenticating the caller too (an Idempotency-Key's plain sign-in).
            named = {p for p in Permission if p.value in operation.get("summary", "")}
            declared = {operation.get("x-permission"), *operation.get("x-staff-permissions", [])}
            if named - declared:
                unnamed_staff.append(f"{method.upper()} {path}: {sorted(p.value for p in named - declared)}")
    assert missing == [] and unnamed_staff == []


def test_no_service_checks_a_staff_role_by_name() -> None:
    """Staff duties are checked through permissions (`user.can`, `require_permission`), never `"ops" in roles`:
    a role check by name would let a route skip naming its permission."""
    pattern = re.compile(r"is_ops|Role\.OPS|\.has\(\s*[\"'](ops|finance|catalogue|support|manager|leader_admin)")
    allowed = {REPO / "services/common/permissions.py", REPO / "services/common/auth.py"}
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for path in (REPO / "services").rglob("*.py")
        if path not in allowed
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert found == []


async def test_a_finance_user_cannot_change_a_price_and_a_catalogue_user_cannot_approve_a_withdrawal(
    e2e: httpx.AsyncClient,
) -> None:
    catalogue, finance = bearer("s_cat", ["catalogue"]), bearer("s_fin", ["finance"])
    product = ok(
        await e2e.post("/api/v1/products", json={"name": "Pears", "price_fen": 990, "stock": 5}, headers=catalogue), 201
    )
    price = await e2e.patch(f"/api/v1/products/{product['id']}", json={"price_fen": 1}, headers=finance)
    assert price.status_code == 403 and price.json()["code"] == "MISSING_PERMISSION"
    assert ok(await e2e.get(f"/api/v1/products/{product['id']}", headers=finance))["price_fen"] == 990
    approve = await e2e.post("/api/v1/withdrawals/1/approve", headers=catalogue)
    assert approve.status_code == 403 and approve.json()["code"] == "MISSING_PERMISSION"
    assert (await e2e.post("/api/v1/withdrawals/1/approve", headers=finance)).status_code == 404  # may, none exists


@pytest.fixture
async def document(e2e: httpx.AsyncClient) -> dict[str, Any]:
    doc: dict[str, Any] = ok(await e2e.get("/openapi.json"))
    assert not doc.get("x-missing-services")
    return doc
