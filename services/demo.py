"""Demo data, loaded through the gateway's public API exactly as a client would (`make run` does it on start-up).

    python -m services.demo [--gateway http://127.0.0.1:8000]

Every step is idempotent: it looks up what exists before creating, and sends fixed `Idempotency-Key`s, so running
it again changes nothing. A step names the operations it needs ("POST /api/v1/leader-applications"); when the
merged OpenAPI document does not offer one of them yet, the step is skipped and says why. To add demo data for a new
resource, append a `DemoStep` to `STEPS`.

Tokens come from the accounts service like any client's: the development login (`POST /api/v1/auth/dev-token`,
served while `ACCOUNTS_DEV_AUTH=true`) for the demo customer, leader and the first ops user, and staff sign-in
(`POST /api/v1/auth/staff`) for the staff accounts the demo creates (an ops admin, a finance user and the demo
leader's manager).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx

from services.common.settings import ServiceSettings

OPS_SUB = "demo-ops"
CUSTOMER_SUB = "demo-customer"
LEADER_SUB = "demo-leader"  # becomes the leader id once the demo application is approved
_ROLES = {OPS_SUB: ("ops",), CUSTOMER_SUB: ("customer",), LEADER_SUB: ("customer", "leader")}


@dataclass(frozen=True)
class DemoStaff:
    label: str
    username: str
    roles: tuple[str, ...]
    #: Development only: printed by `make run`, so anyone can sign in as them.
    password: str


DEMO_STAFF: tuple[DemoStaff, ...] = (
    DemoStaff("ops admin", "demo.admin", ("ops",), "demo-admin-password"),
    DemoStaff("finance", "demo.finance", ("finance",), "demo-finance-password"),
    DemoStaff("manager", "demo.manager", ("manager",), "demo-manager-password"),
)
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

DEMO_PRODUCTS: tuple[dict[str, Any], ...] = (
    {"name": "烟台红富士苹果 5kg", "price_fen": 3990, "stock": 200, "category": "fruit"},
    {"name": "东北五常大米 10kg", "price_fen": 6990, "stock": 100, "category": "grain"},
    {"name": "农家土鸡蛋 30枚", "price_fen": 2590, "stock": 300, "category": "eggs"},
    {"name": "有机小白菜 500g", "price_fen": 590, "stock": 500, "category": "vegetables"},
)


class StepFailed(Exception):
    """The API answered, but not as the step needs (the detail says what it answered)."""


@dataclass(frozen=True)
class StepResult:
    name: str
    outcome: Literal["done", "skipped", "failed"]
    detail: str


@dataclass
class DemoContext:
    client: httpx.Client
    _tokens: dict[str, str] = field(default_factory=dict)
    #: Access tokens of the demo staff accounts by label, once the staff step signed them in.
    staff_tokens: dict[str, str] = field(default_factory=dict)

    def token(self, sub: str, roles: Iterable[str] | None = None) -> str:
        """A development token for `sub` (the demo identities' roles unless `roles` is given)."""
        roles = tuple(roles if roles is not None else _ROLES[sub])
        key = f"{sub}:{','.join(roles)}"
        if key not in self._tokens:
            answer = self.client.post("/api/v1/auth/dev-token", json={"sub": sub, "roles": list(roles)})
            self._tokens[key] = _expect(answer, 200).json()["access_token"]
        return self._tokens[key]

    def auth(self, sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub)}"}


@dataclass(frozen=True)
class DemoStep:
    name: str
    #: Operations the step calls, as "METHOD /path/{param}" (parameter names do not matter).
    requires: tuple[str, ...]
    run: Callable[[DemoContext], str]


def _expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        raise StepFailed(f"{response.request.method} {response.request.url.path} -> {response.status_code}: "
                         f"{response.text[:300]}")  # fmt: skip
    return response


def _problem_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def seed_products(ctx: DemoContext) -> str:
    existing: set[str] = set()
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = _expect(ctx.client.get("/api/v1/products", params=params, headers=ctx.auth(CUSTOMER_SUB)), 200).json()
        existing.update(item["name"] for item in page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    created = 0
    for number, product in enumerate(DEMO_PRODUCTS, start=1):
        if product["name"] in existing:
            continue
        headers = {**ctx.auth(OPS_SUB), "Idempotency-Key": f"demo-product-{number}"}
        _expect(ctx.client.post("/api/v1/products", json=product, headers=headers), 201)
        created += 1
    return f"{len(DEMO_PRODUCTS)} products ({created} created)"


def seed_leader(ctx: DemoContext) -> str:
    if ctx.client.get(f"/api/v1/leaders/{LEADER_SUB}", headers=ctx.auth(OPS_SUB)).status_code == 200:
        return f"leader {LEADER_SUB} (already approved)"
    # An application left pending by an earlier, interrupted run is approved rather than filed twice.
    pending = ctx.client.get("/api/v1/leader-applications", params={"status": "pending"}, headers=ctx.auth(LEADER_SUB))
    items = _expect(pending, 200).json()["items"]
    if items:
        application_id = items[0]["id"]
    else:
        application = {
            "name": "王阿姨",
            "phone": "13800000000",
            "pickup_point": {
                "name": "阳光小区 3 栋门卫室",
                "address": "阳光路 88 号",
                "community": "阳光小区",
                "city": "上海市",
                "district": "浦东新区",
                "latitude": 31.2215,
                "longitude": 121.5446,
            },
        }
        headers = {**ctx.auth(LEADER_SUB), "Idempotency-Key": "demo-leader-application"}
        applied = ctx.client.post("/api/v1/leader-applications", json=application, headers=headers)
        application_id = _expect(applied, 200, 201).json()["id"]
    approve = f"/api/v1/leader-applications/{application_id}/approve"
    _expect(ctx.client.post(approve, headers=ctx.auth(OPS_SUB)), 200)
    return f"leader {LEADER_SUB} (application {application_id} approved)"


def _staff_id(ctx: DemoContext, staff: DemoStaff) -> str:
    created = ctx.client.post(
        "/api/v1/staff",
        json={
            "username": staff.username,
            "display_name": f"Demo {staff.label}",
            "contact_phone": "13900000000",
            "roles": list(staff.roles),
            "password": staff.password,
        },
        headers=ctx.auth(OPS_SUB),
    )
    if created.status_code == 201:
        return str(created.json()["id"])
    _expect(created, 409)  # created by an earlier run
    params: dict[str, str | int] = {"role": staff.roles[0], "limit": 200}
    listed = _expect(ctx.client.get("/api/v1/staff", params=params, headers=ctx.auth(OPS_SUB)), 200).json()
    return next(str(item["id"]) for item in listed["items"] if item["username"] == staff.username)


def seed_staff(ctx: DemoContext) -> str:
    """An ops admin, a finance user and a manager who manages the demo leader, each signed in."""
    ids: dict[str, str] = {}
    for staff in DEMO_STAFF:
        ids[staff.label] = _staff_id(ctx, staff)
        signed = ctx.client.post("/api/v1/auth/staff", json={"username": staff.username, "password": staff.password})
        ctx.staff_tokens[staff.label] = _expect(signed, 200).json()["access_token"]
    assigned = ctx.client.patch(
        f"/api/v1/leaders/{LEADER_SUB}",
        json={"manager_id": ids["manager"], "reason": "demo manager"},
        headers={"Authorization": f"Bearer {ctx.staff_tokens['ops admin']}"},
    )
    _expect(assigned, 200)
    return ", ".join(f"{s.username} ({','.join(s.roles)})" for s in DEMO_STAFF) + f"; manager of {LEADER_SUB}"


def seed_membership(ctx: DemoContext) -> str:
    response = ctx.client.post(f"/api/v1/leaders/{LEADER_SUB}/members", headers=ctx.auth(CUSTOMER_SUB))
    if response.status_code == 409:
        return f"{CUSTOMER_SUB} in {LEADER_SUB}'s community (already a member: {_problem_code(response)})"
    _expect(response, 200, 201)
    return f"{CUSTOMER_SUB} joined {LEADER_SUB}'s community"


def seed_sign_in(ctx: DemoContext) -> str:
    response = ctx.client.post("/api/v1/points/sign-ins", headers=ctx.auth(CUSTOMER_SUB))
    if response.status_code == 409 and _problem_code(response) == "ALREADY_SIGNED_IN":
        return f"{CUSTOMER_SUB} already signed in today"
    body = _expect(response, 200, 201).json()
    return f"{CUSTOMER_SUB} signed in on {body.get('date')}, awarded {body.get('awarded')} points"


DEMO_GRAPES = "阳光玫瑰葡萄"
DEMO_GROUP_BUY = "明日自提 · 葡萄节"


def seed_catalogue(ctx: DemoContext) -> str:
    """A category tree, a product with two SKUs under it, and a group-buy of it for tomorrow in Shanghai."""
    staff = ctx.auth(OPS_SUB)
    tree = _expect(ctx.client.get("/api/v1/categories", headers=staff), 200).json()
    fruit = next((node for node in tree if node["name"] == "水果"), None)
    if fruit is None:
        fruit = _expect(ctx.client.post("/api/v1/categories", json={"name": "水果"}, headers=staff), 201).json()
        fruit["children"] = []
    grapes_category = next((c for c in fruit["children"] if c["name"] == "葡萄提子"), None)
    if grapes_category is None:
        body = {"name": "葡萄提子", "parent_id": fruit["id"]}
        grapes_category = _expect(ctx.client.post("/api/v1/categories", json=body, headers=staff), 201).json()
    found = _expect(ctx.client.get("/api/v1/products", params={"q": DEMO_GRAPES}, headers=staff), 200).json()
    product = next((p for p in found["items"] if p["name"] == DEMO_GRAPES), None)
    if product is None:
        body = {
            "name": DEMO_GRAPES,
            "price_fen": 3990,
            "stock": 0,
            "unit": "盒",
            "origin": "云南",
            "description": "香甜无籽，当日采摘",
            "category_id": grapes_category["id"],
            "images": ["https://img.example.com/grapes/1.jpg", "https://img.example.com/grapes/2.jpg"],
            "cost_fen": 2800,
            "skus": [
                {"name": "一盒 500g", "price_fen": 3990, "stock": 200, "cost_fen": 2800},
                {"name": "两盒装", "price_fen": 7590, "stock": 100, "cost_fen": 5500},
            ],
        }
        headers = {**staff, "Idempotency-Key": "demo-grapes"}
        product = _expect(ctx.client.post("/api/v1/products", json=body, headers=headers), 201).json()
    group_buys = _expect(ctx.client.get("/api/v1/group-buys", params={"limit": 200}, headers=staff), 200).json()
    if any(g["title"] == DEMO_GROUP_BUY and g["state"] in ("open", "scheduled") for g in group_buys["items"]):
        return f"categories, {DEMO_GRAPES} with 2 SKUs, group-buy (already open)"
    now = datetime.now(UTC)
    ends = now + timedelta(hours=12)
    pickup = ends.astimezone(ServiceSettings().tz).date() + timedelta(days=1)
    body = {
        "title": DEMO_GROUP_BUY,
        "starts_at": now.isoformat(),
        "ends_at": ends.isoformat(),
        "pickup_date": pickup.isoformat(),
        "pickup_starts": "09:00",
        "pickup_ends": "20:00",
        "regions": ["上海市"],
        "items": [{"product_id": product["id"], "price_fen": 2990, "per_customer_limit": 2, "min_per_community": 3}],
    }
    created = _expect(ctx.client.post("/api/v1/group-buys", json=body, headers=staff), 201).json()
    return f"categories, {DEMO_GRAPES} with 2 SKUs, group-buy {created['id']} for pickup on {body['pickup_date']}"


STEPS: tuple[DemoStep, ...] = (
    DemoStep("products", ("GET /api/v1/products", "POST /api/v1/products"), seed_products),
    DemoStep(
        "leader",
        (
            "GET /api/v1/leaders/{}",
            "GET /api/v1/leader-applications",
            "POST /api/v1/leader-applications",
            "POST /api/v1/leader-applications/{}/approve",
        ),
        seed_leader,
    ),
    DemoStep(
        "staff",
        ("POST /api/v1/staff", "GET /api/v1/staff", "POST /api/v1/auth/staff", "PATCH /api/v1/leaders/{}"),
        seed_staff,
    ),
    DemoStep("community member", ("POST /api/v1/leaders/{}/members",), seed_membership),
    DemoStep("points sign-in", ("POST /api/v1/points/sign-ins",), seed_sign_in),
    DemoStep(
        "catalogue and group-buy",
        ("GET /api/v1/categories", "POST /api/v1/categories", "POST /api/v1/products", "POST /api/v1/group-buys"),
        seed_catalogue,
    ),
)


def _normalise(operation: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", operation)


def offered_operations(document: dict[str, Any]) -> set[str]:
    """Every "METHOD /path/{}" of an OpenAPI document."""
    return {
        _normalise(f"{method.upper()} {path}")
        for path, item in document.get("paths", {}).items()
        for method in item
        if method in _HTTP_METHODS
    }


def run_steps(ctx: DemoContext, steps: Iterable[DemoStep], offered: set[str]) -> list[StepResult]:
    results: list[StepResult] = []
    for step in steps:
        missing = [op for op in step.requires if _normalise(op) not in offered]
        if missing:
            results.append(StepResult(step.name, "skipped", "the API does not offer " + ", ".join(missing) + " yet"))
            continue
        try:
            results.append(StepResult(step.name, "done", step.run(ctx)))
        except StepFailed as failure:
            # Later steps may still work (they do not all depend on this one); each reports for itself.
            results.append(StepResult(step.name, "failed", str(failure)))
        except (KeyError, TypeError, ValueError) as surprise:  # a body not shaped as the step expects
            results.append(StepResult(step.name, "failed", f"unexpected response: {surprise!r}"))
    return results


def seed(ctx: DemoContext, steps: Iterable[DemoStep] = STEPS) -> list[StepResult]:
    """Load the demo data through the gateway `ctx.client` talks to."""
    document = _expect(ctx.client.get("/openapi.json"), 200).json()
    return run_steps(ctx, steps, offered_operations(document))


#: The identities `make run` prints a token for: label -> (sub, roles) of its development token, used when the
#: demo did not sign the staff in (`--no-demo`).
BANNER_IDENTITIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("customer", CUSTOMER_SUB, ("customer",)),
    ("leader", LEADER_SUB, ("customer", "leader")),
    ("ops admin", OPS_SUB, ("ops",)),
    ("finance", "demo-finance", ("finance",)),
    ("manager", "demo-manager", ("manager",)),
)


def banner_tokens(ctx: DemoContext) -> dict[str, str]:
    """A token per banner identity: the demo staff's own sign-ins when the demo made them, else development
    tokens with the same roles."""
    return {label: ctx.staff_tokens.get(label) or ctx.token(sub, roles) for label, sub, roles in BANNER_IDENTITIES}


def format_report(results: Iterable[StepResult]) -> list[str]:
    return [f"{r.name:17} {r.outcome:8} {r.detail}" for r in results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    args = parser.parse_args(argv)
    with httpx.Client(base_url=args.gateway, timeout=10.0) as client:
        results = seed(DemoContext(client=client))
    print("\n".join(format_report(results)))
    return 1 if any(r.outcome == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
