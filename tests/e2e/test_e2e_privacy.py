"""A person's data across the platform, through the gateway: the export has every service's part, and after the
erasure no service's tables hold the person's name or phone, while every ledger still balances."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from services.common.testing import bearer
from services.leaders.commission.models import CommissionAccount, CommissionEntry
from services.points.ledger.models import Account, Entry
from tests.e2e.conftest import Wiring, approved_leader, ok, pay

NAME = "Zhao Lei"
PHONE = "13912345678"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def table_dump(apps: dict[str, FastAPI]) -> dict[str, str]:
    """Every row of every table of every service, as text, by `service.table`."""
    dump: dict[str, str] = {}
    for service, app in apps.items():
        async with app.state.db.engine.connect() as conn:
            for table in app.state.db.metadata.sorted_tables:
                rows = (await conn.execute(select(table))).all()
                dump[f"{service}.{table.name}"] = repr([tuple(row) for row in rows])
    return dump


async def ledgers(apps: dict[str, FastAPI]) -> dict[str, Any]:
    """Each commission and points account, and whether it equals the sum of its entries."""
    found: dict[str, Any] = {}
    async with apps["leaders"].state.db.engine.connect() as conn:
        for account in (await conn.execute(select(CommissionAccount.__table__))).mappings():  # type: ignore[attr-defined]
            entries = (
                await conn.execute(
                    select(CommissionEntry.__table__).where(  # type: ignore[attr-defined]
                        CommissionEntry.__table__.c.leader_id == account["leader_id"]  # type: ignore[attr-defined]
                    )
                )
            ).mappings()
            sums = [0, 0, 0, 0]
            for entry in entries:
                for i, name in enumerate(("pending", "available", "in_withdrawal", "withdrawn")):
                    sums[i] += entry[f"{name}_delta_fen"]
            balances = [account[f"{name}_fen"] for name in ("pending", "available", "in_withdrawal", "withdrawn")]
            found[f"commission:{account['leader_id']}"] = (balances, balances == sums)
    async with apps["points"].state.db.engine.connect() as conn:
        for account in (await conn.execute(select(Account.__table__))).mappings():  # type: ignore[attr-defined]
            entries = list(
                (
                    await conn.execute(
                        select(Entry.__table__).where(Entry.__table__.c.user_id == account["user_id"])  # type: ignore[attr-defined]
                    )
                ).mappings()
            )
            sums_match = account["balance"] == sum(e["points"] for e in entries) and account["held"] == sum(
                e["held_change"] for e in entries
            )
            found[f"points:{account['user_id']}"] = ((account["balance"], account["held"]), sums_match)
    return found


async def test_export_has_every_services_part_and_erasure_leaves_no_name_or_phone_anywhere(
    e2e: httpx.AsyncClient, wiring: Wiring
) -> None:
    apps = wiring.apps
    pair = ok(await e2e.post("/api/v1/auth/wechat", json={"code": "forget-me"}))
    person, me = pair["user"]["id"], auth(pair["access_token"])
    ok(await e2e.patch("/api/v1/me", json={"nickname": NAME}, headers=me))
    wechat_phone = ok(await e2e.post("/api/v1/me/phone", json={"code": "phone-code"}, headers=me))["phone"]

    # The person buys at another leader's pickup point, picks up, and asks for a refund in their own words...
    shop = await approved_leader(e2e, "leader-wang")
    ops = bearer("s_ops", ["ops"])
    ok(
        await e2e.post(
            "/api/v1/commission/rules", json={"scope": "default", "mode": "percentage", "rate_bp": 1000}, headers=ops
        ),
        201,
    )
    product = ok(
        await e2e.post("/api/v1/products", json={"name": "Apples", "price_fen": 2000, "stock": 9}, headers=ops), 201
    )
    ok(await e2e.post("/api/v1/points/sign-ins", headers=me), 200, 201)
    order = ok(
        await e2e.post(
            "/api/v1/orders",
            json={"leader_id": shop, "lines": [{"product_id": product["id"], "quantity": 2}]},
            headers=me | {"Idempotency-Key": "privacy-order"},
        ),
        201,
    )
    await pay(e2e, apps["orders"], order, "tx-privacy")
    await wiring.deliver()
    ok(await e2e.post(f"/api/v1/orders/{order['id']}/arrive", headers=bearer(shop, ["leader"])))
    code = ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=me))["pickup_code"]
    ok(
        await e2e.post(
            f"/api/v1/orders/{order['id']}/pickup", json={"pickup_code": code}, headers=bearer(shop, ["leader"])
        )
    )
    await wiring.deliver()
    # After pickup a refund is an after-sale request; its description is the person's own words.
    request = {
        "lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}],
        "reason": "damaged",
        "description": f"{NAME}, call {PHONE}",
    }
    ok(
        await e2e.post(
            f"/api/v1/orders/{order['id']}/after-sales", json=request, headers=me | {"Idempotency-Key": "r1"}
        ),
        201,
    )
    ok(
        await e2e.post(
            "/api/v1/points/adjustments", json={"user_id": person, "points": 7, "reason": f"sorry {NAME}"}, headers=ops
        ),
        201,
    )
    # ...and applies to run a pickup point of their own.
    applied = ok(
        await e2e.post(
            "/api/v1/leader-applications",
            json={
                "name": NAME,
                "phone": PHONE,
                "pickup_point": {"name": "Home", "address": "3 Elm St", "community": "Elm"},
            },
            headers=me,
        ),
        201,
    )
    ok(await e2e.post(f"/api/v1/leader-applications/{applied['id']}/approve", headers=ops))
    await wiring.deliver()

    exported = ok(await e2e.get("/api/v1/me/export", headers=me))
    parts = exported["services"]
    assert set(parts) == {"accounts", "leaders", "orders", "points", "analytics"}
    assert parts["accounts"]["profile"]["nickname"] == NAME and parts["accounts"]["profile"]["phone"] == wechat_phone
    assert [a["name"] for a in parts["leaders"]["leader_applications"]] == [NAME]
    assert [leader["phone"] for leader in parts["leaders"]["leaders"]] == [PHONE]
    assert [o["id"] for o in parts["orders"]["orders"]] == [order["id"]]
    assert parts["orders"]["after_sale_requests"][0]["description"] == request["description"]
    assert {e["kind"] for e in parts["points"]["points_entries"]} >= {"signin", "purchase", "adjustment"}
    assert [o["order_id"] for o in parts["analytics"]["orders"]] == [order["id"]]
    assert [leader["name"] for leader in parts["analytics"]["leaders"]] == [NAME]
    before = await ledgers(apps)
    assert before and all(balanced for _, balanced in before.values()), before
    held = await table_dump(apps)
    for table in (
        "accounts.users",
        "leaders.leader_applications",
        "leaders.leaders",
        "leaders.outbox",
        "orders.after_sale_requests",
        "analytics.leaders",
    ):
        assert NAME in held[table], table
    assert PHONE in held["leaders.leaders"] and PHONE in held["orders.idempotency_keys"]
    assert NAME in held["points.points_entries"] and wechat_phone in held["accounts.users"]

    assert (await e2e.delete("/api/v1/me", headers=me)).status_code == 204
    assert await wiring.deliver() >= 1  # user.erased reaches leaders, orders, points and analytics

    dump = await table_dump(apps)
    for secret in (NAME, PHONE, wechat_phone):
        assert [table for table, rows in dump.items() if secret in rows] == [], secret
    after = await ledgers(apps)
    assert after == before  # every balance exactly as it was, each still the sum of its entries
    # The money records are still there, only anonymous.
    assert ok(await e2e.get(f"/api/v1/orders/{order['id']}", headers=ops))["payable_fen"] == order["payable_fen"]
    assert ok(await e2e.get(f"/api/v1/leaders/{person}", headers=ops))["name"] == "(erased)"
    # The person is gone: their token no longer reaches a profile, and the same WeChat account starts afresh.
    again = ok(await e2e.post("/api/v1/auth/wechat", json={"code": "forget-me"}))
    assert again["user"]["id"] != person


async def test_a_service_export_is_for_the_accounts_service_only(e2e: httpx.AsyncClient, wiring: Wiring) -> None:
    from services.common.testing import asgi_client, service_bearer

    for name in ("leaders", "orders", "points", "analytics"):
        async with asgi_client(wiring.apps[name]) as client:
            assert (
                await client.get("/internal/users/u1/export", headers=service_bearer("accounts"))
            ).status_code == 200
            other = await client.get("/internal/users/u1/export", headers=service_bearer("orders"))
            assert other.status_code == 403 and other.json()["code"] == "SERVICE_NOT_ALLOWED"
            person = await client.get("/internal/users/u1/export", headers=bearer("u1", ["customer"]))
            assert person.status_code == 401
