"""A person's own profile; their phone number is shown in full only to them and to ops and support staff."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.accounts.users.service import mask_phone
from tests.accounts.conftest import Clock, auth, dev_token, ok, wechat_sign_in


async def signed_in(client: httpx.AsyncClient, code: str = "code-1") -> tuple[str, dict[str, str]]:
    pair = await wechat_sign_in(client, code)
    return pair["user"]["id"], auth(pair["access_token"])


async def test_a_new_user_has_an_empty_profile(accounts_client: httpx.AsyncClient, clock: Clock) -> None:
    user_id, headers = await signed_in(accounts_client)
    me = ok(await accounts_client.get("/api/v1/me", headers=headers))
    assert me == {
        "id": user_id,
        "nickname": None,
        "avatar_url": None,
        "region": None,
        "birthday": None,
        "phone": None,
        "phone_country_code": None,
        "created_at": clock().isoformat().replace("+00:00", "Z"),
    }


async def test_the_profile_changes_field_by_field_and_null_clears(accounts_client: httpx.AsyncClient) -> None:
    _, headers = await signed_in(accounts_client)
    changes = {
        "nickname": "  小王  ",
        "avatar_url": "https://img.example.com/a.png",
        "region": "上海市 浦东新区",
        "birthday": "1990-05-01",
    }
    me = ok(await accounts_client.patch("/api/v1/me", json=changes, headers=headers))
    assert (me["nickname"], me["avatar_url"], me["region"], me["birthday"]) == (
        "小王",
        "https://img.example.com/a.png",
        "上海市 浦东新区",
        "1990-05-01",
    )
    me = ok(await accounts_client.patch("/api/v1/me", json={"region": None}, headers=headers))
    assert me["region"] is None and me["nickname"] == "小王"  # left out: unchanged
    assert ok(await accounts_client.get("/api/v1/me", headers=headers)) == me


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"nickname": "x" * 33}, "VALIDATION_ERROR"),
        ({"nickname": "   "}, "VALIDATION_ERROR"),
        ({"avatar_url": "http://img.example.com/a.png"}, "VALIDATION_ERROR"),
        ({"avatar_url": "javascript:alert(1)"}, "VALIDATION_ERROR"),
        ({"avatar_url": "https://"}, "VALIDATION_ERROR"),
        ({"birthday": "2025-03-10"}, "BIRTHDAY_NOT_IN_PAST"),  # today in Shanghai
        ({"birthday": "2030-01-01"}, "BIRTHDAY_NOT_IN_PAST"),
        ({"birthday": "1850-01-01"}, "BIRTHDAY_NOT_IN_PAST"),
        ({"birthday": "yesterday"}, "VALIDATION_ERROR"),
        ({"phone": "13800000000"}, "VALIDATION_ERROR"),  # only through WeChat's phone code
    ],
)
async def test_invalid_profile_changes_are_422(
    accounts_client: httpx.AsyncClient, change: dict[str, Any], code: str
) -> None:
    _, headers = await signed_in(accounts_client)
    response = await accounts_client.patch("/api/v1/me", json=change, headers=headers)
    assert response.status_code == 422 and response.json()["code"] == code


async def test_yesterday_is_a_valid_birthday(accounts_client: httpx.AsyncClient) -> None:
    _, headers = await signed_in(accounts_client)
    ok(await accounts_client.patch("/api/v1/me", json={"birthday": "2025-03-09"}, headers=headers))


async def test_the_phone_comes_from_wechat_and_its_owner_sees_it_whole(accounts_client: httpx.AsyncClient) -> None:
    _, headers = await signed_in(accounts_client)
    me = ok(await accounts_client.post("/api/v1/me/phone", json={"code": "phone-code"}, headers=headers))
    assert len(me["phone"]) == 11 and me["phone"].startswith("138") and "*" not in me["phone"]
    assert me["phone_country_code"] == "86"


@pytest.mark.parametrize(
    ("roles", "masked"),
    [(["ops"], False), (["support"], False), (["catalogue"], True), (["manager"], True), (["finance"], True)],
)
async def test_staff_see_the_phone_masked_unless_ops_or_support(
    accounts_client: httpx.AsyncClient, roles: list[str], masked: bool
) -> None:
    user_id, headers = await signed_in(accounts_client)
    phone = ok(await accounts_client.post("/api/v1/me/phone", json={"code": "phone-code"}, headers=headers))["phone"]
    staff = await dev_token(accounts_client, "s_staff", roles)
    seen = ok(await accounts_client.get(f"/api/v1/users/{user_id}", headers=staff))["phone"]
    assert seen == (f"{phone[:3]}****{phone[-4:]}" if masked else phone)


async def test_other_people_cannot_read_a_users_profile(accounts_client: httpx.AsyncClient) -> None:
    user_id, _ = await signed_in(accounts_client, "code-1")
    _, stranger = await signed_in(accounts_client, "code-2")
    response = await accounts_client.get(f"/api/v1/users/{user_id}", headers=stranger)
    assert response.status_code == 403


async def test_an_unknown_user_is_404_for_staff(accounts_client: httpx.AsyncClient) -> None:
    staff = await dev_token(accounts_client, "s_staff", ["support"])
    response = await accounts_client.get("/api/v1/users/u_nobody", headers=staff)
    assert response.status_code == 404 and response.json()["code"] == "USER_NOT_FOUND"


async def test_staff_have_no_customer_profile(accounts_client: httpx.AsyncClient) -> None:
    response = await accounts_client.get("/api/v1/me", headers=await dev_token(accounts_client, "s_1", ["ops"]))
    assert response.status_code == 403 and response.json()["code"] == "MISSING_ROLE"


async def test_a_dev_token_customer_has_a_profile_too(accounts_client: httpx.AsyncClient) -> None:
    headers = await dev_token(accounts_client, "demo-customer", ["customer"])
    assert ok(await accounts_client.get("/api/v1/me", headers=headers))["id"] == "demo-customer"


def test_masking_keeps_the_first_three_and_last_four_digits() -> None:
    assert mask_phone("13800000000") == "138****0000"
    assert mask_phone("85291234") == "****34"  # too short to show more without giving it away


async def test_an_unknown_query_parameter_is_refused_not_ignored(accounts_client: httpx.AsyncClient) -> None:
    _, headers = await signed_in(accounts_client)
    response = await accounts_client.get("/api/v1/me?fields=phone", headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"loc": ["query", "fields"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
