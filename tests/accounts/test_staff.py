"""Staff accounts: managed by ops only, signing in with a password that locks after too many mistakes."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher

from services.accounts.staff.passwords import PasswordHasher
from services.accounts.staff.repository import get_staff
from services.common.events.contract import STAFF_UPDATED
from tests.accounts.conftest import (
    ADMIN_PASSWORD,
    Clock,
    auth,
    claims,
    create_staff,
    dev_token,
    ok,
    ops,
    outbox_events,
    refresh,
    staff_sign_in,
    wechat_sign_in,
)


async def test_staff_sign_in_gives_their_roles(accounts_client: httpx.AsyncClient, accounts_app: FastAPI) -> None:
    created = await create_staff(accounts_client, "zhang.wei", ["finance", "support"], contact_phone="13900001111")
    assert created["id"].startswith("s_") and created["roles"] == ["finance", "support"] and created["active"]
    assert "password" not in created and "password_hash" not in created

    pair = ok(await staff_sign_in(accounts_client, "Zhang.Wei"))  # usernames are case-insensitive
    assert pair["user"] == {"id": created["id"], "roles": ["finance", "support"]}
    token = await claims(accounts_app, pair["access_token"])
    assert token.sub == created["id"] and token.roles == {"finance", "support"}


async def test_the_stored_password_is_an_argon2id_hash(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    created = await create_staff(accounts_client, "li.na", ["ops"])
    async with accounts_app.state.db.reading() as session:
        staff = await get_staff(session, created["id"])
    assert staff is not None and staff.password_hash.startswith("$argon2id$")
    assert ADMIN_PASSWORD not in staff.password_hash


async def test_wrong_password_and_unknown_username_give_the_same_answer(accounts_client: httpx.AsyncClient) -> None:
    await create_staff(accounts_client, "li.na", ["ops"])
    wrong = await staff_sign_in(accounts_client, "li.na", "not the password")
    unknown = await staff_sign_in(accounts_client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "STAFF_CREDENTIALS_INVALID"
    assert wrong.json()["detail"] == unknown.json()["detail"]


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1))
        self.verified = 0

    async def verify(self, password: str, password_hash: str) -> bool:
        self.verified += 1
        return await super().verify(password, password_hash)


async def test_an_unknown_username_costs_a_password_check_too(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    """So the time an answer takes does not tell which usernames exist."""
    await create_staff(accounts_client, "li.na", ["ops"])
    hasher = CountingHasher()
    accounts_app.state.passwords = hasher
    await staff_sign_in(accounts_client, "li.na", "guess")
    await staff_sign_in(accounts_client, "nobody", "guess")
    assert hasher.verified == 2


async def test_too_many_wrong_passwords_lock_the_account_for_a_while(
    accounts_client: httpx.AsyncClient, clock: Clock
) -> None:
    await create_staff(accounts_client, "li.na", ["ops"])
    for _ in range(4):
        assert (await staff_sign_in(accounts_client, "li.na", "guess")).status_code == 401
    fifth = await staff_sign_in(accounts_client, "li.na", "guess")
    assert fifth.status_code == 429 and fifth.json()["code"] == "STAFF_ACCOUNT_LOCKED"
    assert fifth.headers["Retry-After"] == "900"

    clock.advance(minutes=10)
    right_but_locked = await staff_sign_in(accounts_client, "li.na")
    assert right_but_locked.status_code == 429 and right_but_locked.headers["Retry-After"] == "300"

    clock.advance(minutes=5)
    ok(await staff_sign_in(accounts_client, "li.na"))
    # The count starts again: one mistake after the lock does not lock again.
    assert (await staff_sign_in(accounts_client, "li.na", "guess")).status_code == 401
    ok(await staff_sign_in(accounts_client, "li.na"))


async def test_a_lock_that_ran_out_gives_a_fresh_allowance(accounts_client: httpx.AsyncClient, clock: Clock) -> None:
    await create_staff(accounts_client, "li.na", ["ops"])
    for _ in range(5):
        await staff_sign_in(accounts_client, "li.na", "guess")
    clock.advance(minutes=15)
    for _ in range(4):
        assert (await staff_sign_in(accounts_client, "li.na", "guess")).status_code == 401
    assert (await staff_sign_in(accounts_client, "li.na", "guess")).status_code == 429


async def test_a_success_resets_the_count_of_mistakes(accounts_client: httpx.AsyncClient) -> None:
    await create_staff(accounts_client, "li.na", ["ops"])
    for _ in range(4):
        await staff_sign_in(accounts_client, "li.na", "guess")
    ok(await staff_sign_in(accounts_client, "li.na"))
    for _ in range(4):
        assert (await staff_sign_in(accounts_client, "li.na", "guess")).status_code == 401


async def test_a_password_reset_by_ops_unlocks_and_ends_sessions(accounts_client: httpx.AsyncClient) -> None:
    created = await create_staff(accounts_client, "li.na", ["ops"])
    pair = ok(await staff_sign_in(accounts_client, "li.na"))
    for _ in range(5):
        await staff_sign_in(accounts_client, "li.na", "guess")
    patch = {"password": "a brand new passphrase"}
    ok(await accounts_client.patch(f"/api/v1/staff/{created['id']}", json=patch, headers=await ops(accounts_client)))
    assert (await staff_sign_in(accounts_client, "li.na")).status_code == 401  # the old password
    ok(await staff_sign_in(accounts_client, "li.na", "a brand new passphrase"))
    assert (await refresh(accounts_client, pair["refresh_token"])).status_code == 401


async def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(accounts_client: httpx.AsyncClient) -> None:
    created = await create_staff(accounts_client, "li.na", ["support"])
    pair = ok(await staff_sign_in(accounts_client, "li.na"))
    headers = await ops(accounts_client)
    ok(await accounts_client.patch(f"/api/v1/staff/{created['id']}", json={"active": False}, headers=headers))
    disabled = await staff_sign_in(accounts_client, "li.na")
    assert disabled.status_code == 403 and disabled.json()["code"] == "STAFF_ACCOUNT_DISABLED"
    assert (await refresh(accounts_client, pair["refresh_token"])).status_code == 401
    # A wrong password on a disabled account says nothing about it being disabled.
    assert (await staff_sign_in(accounts_client, "li.na", "guess")).json()["code"] == "STAFF_CREDENTIALS_INVALID"


async def test_new_duties_show_in_the_next_refresh(accounts_client: httpx.AsyncClient) -> None:
    created = await create_staff(accounts_client, "li.na", ["support"])
    pair = ok(await staff_sign_in(accounts_client, "li.na"))
    patch = {"roles": ["support", "manager"]}
    ok(await accounts_client.patch(f"/api/v1/staff/{created['id']}", json=patch, headers=await ops(accounts_client)))
    renewed = ok(await refresh(accounts_client, pair["refresh_token"]))
    assert renewed["user"]["roles"] == ["manager", "support"]


@pytest.mark.parametrize("roles", [["customer"], ["leader", "customer"], ["support"], ["manager"], ["finance"]])
async def test_only_staff_managers_manage_staff(accounts_client: httpx.AsyncClient, roles: list[str]) -> None:
    headers = await dev_token(accounts_client, "someone", roles)
    body = {"username": "new.one", "display_name": "New", "roles": ["ops"], "password": ADMIN_PASSWORD}
    created = await accounts_client.post("/api/v1/staff", json=body, headers=headers)
    listed = await accounts_client.get("/api/v1/staff", headers=headers)
    changed = await accounts_client.patch("/api/v1/staff/s_1", json={"active": False}, headers=headers)
    assert created.status_code == listed.status_code == changed.status_code == 403
    assert created.json()["code"] == "MISSING_PERMISSION"
    assert (await accounts_client.get("/api/v1/staff")).status_code == 401


async def test_a_customer_token_of_a_real_sign_in_cannot_manage_staff(accounts_client: httpx.AsyncClient) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    response = await accounts_client.get("/api/v1/staff", headers=auth(pair["access_token"]))
    assert response.status_code == 403


async def test_usernames_are_unique(accounts_client: httpx.AsyncClient) -> None:
    await create_staff(accounts_client, "li.na", ["ops"])
    body = {"username": "LI.NA", "display_name": "Other", "roles": ["support"], "password": ADMIN_PASSWORD}
    again = await accounts_client.post("/api/v1/staff", json=body, headers=await ops(accounts_client))
    assert again.status_code == 409 and again.json()["code"] == "STAFF_USERNAME_TAKEN"


@pytest.mark.parametrize(
    "change",
    [
        {"username": "x"},
        {"password": "short"},
        {"roles": []},
        {"roles": ["service"]},
        {"roles": ["customer"]},
        {"contact_phone": "call me"},
        {"extra": 1},
    ],
    ids=["short-username", "short-password", "no-roles", "service-role", "customer-role", "bad-phone", "unknown-field"],
)
async def test_invalid_staff_is_refused_with_422(accounts_client: httpx.AsyncClient, change: dict[str, object]) -> None:
    body = {"username": "li.na", "display_name": "Li Na", "roles": ["ops"], "password": ADMIN_PASSWORD, **change}
    response = await accounts_client.post("/api/v1/staff", json=body, headers=await ops(accounts_client))
    assert response.status_code == 422, response.text


async def test_ops_read_list_and_filter_staff(accounts_client: httpx.AsyncClient) -> None:
    manager = await create_staff(accounts_client, "manager.wang", ["manager"], contact_phone="13900002222")
    await create_staff(accounts_client, "finance.zhao", ["finance"])
    await create_staff(accounts_client, "ops.qian", ["ops", "manager"])
    headers = await ops(accounts_client)

    assert ok(await accounts_client.get(f"/api/v1/staff/{manager['id']}", headers=headers)) == manager
    managers = ok(await accounts_client.get("/api/v1/staff", params={"role": "manager"}, headers=headers))
    assert [s["username"] for s in managers["items"]] == ["manager.wang", "ops.qian"]

    first = ok(await accounts_client.get("/api/v1/staff", params={"limit": 2}, headers=headers))
    rest = ok(
        await accounts_client.get("/api/v1/staff", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers)
    )
    assert [s["username"] for s in first["items"] + rest["items"]] == ["finance.zhao", "manager.wang", "ops.qian"]
    assert rest["next_cursor"] is None
    missing = await accounts_client.get("/api/v1/staff/s_nobody", headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "STAFF_NOT_FOUND"


async def test_every_staff_change_is_published_for_the_other_services(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    created = await create_staff(accounts_client, "manager.wang", ["manager"], contact_phone="13900002222")
    patch = {"display_name": "Wang Qiang", "contact_phone": None}
    ok(await accounts_client.patch(f"/api/v1/staff/{created['id']}", json=patch, headers=await ops(accounts_client)))
    events = await outbox_events(accounts_app, STAFF_UPDATED)
    assert [(e["staff_id"], e["display_name"], e["contact_phone"], e["roles"], e["active"]) for e in events] == [
        (created["id"], "Manager.Wang", "13900002222", ["manager"], True),
        (created["id"], "Wang Qiang", None, ["manager"], True),
    ]


async def test_ops_cannot_lock_themselves_out(accounts_client: httpx.AsyncClient) -> None:
    admin = await create_staff(accounts_client, "admin", ["ops"])
    own = auth(ok(await staff_sign_in(accounts_client, "admin"))["access_token"])
    for change in ({"active": False}, {"roles": ["support"]}):
        response = await accounts_client.patch(f"/api/v1/staff/{admin['id']}", json=change, headers=own)
        assert response.status_code == 409 and response.json()["code"] == "CANNOT_DEMOTE_YOURSELF"
    ok(await accounts_client.patch(f"/api/v1/staff/{admin['id']}", json={"roles": ["ops", "finance"]}, headers=own))


async def test_null_cannot_clear_what_every_account_needs(accounts_client: httpx.AsyncClient) -> None:
    created = await create_staff(accounts_client, "li.na", ["ops"])
    for field in ("display_name", "roles", "active", "password"):
        response = await accounts_client.patch(
            f"/api/v1/staff/{created['id']}", json={field: None}, headers=await ops(accounts_client)
        )
        assert response.status_code == 422, field
