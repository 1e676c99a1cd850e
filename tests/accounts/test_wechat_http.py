"""The real WeChat adapter against a stand-in that answers like WeChat: every error is a clear problem, never a 500,
and no secret, session key, access token or phone number reaches the log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.accounts.wechat.exceptions import WeChatUnavailable
from services.accounts.wechat.provider import HttpWeChatProvider
from services.common.testing import free_port
from tests.accounts.conftest import auth, ok, wechat_sign_in
from tests.accounts.wechat_stub import APPID, PHONE, SECRET, SESSION_KEY, WeChatStub, running_stub


class Monotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def stub() -> AsyncIterator[tuple[WeChatStub, str]]:
    async with running_stub() as running:
        yield running


def provider(base_url: str, **options: Any) -> HttpWeChatProvider:
    return HttpWeChatProvider(appid=APPID, secret=SECRET, base_url=base_url, timeout_seconds=0.5, **options)


@pytest.fixture
async def real_wechat(
    stub: tuple[WeChatStub, str], accounts_app: FastAPI
) -> AsyncIterator[tuple[WeChatStub, HttpWeChatProvider]]:
    wechat = provider(stub[1])
    accounts_app.state.wechat = wechat
    yield stub[0], wechat
    await wechat.aclose()


async def test_code2session_gives_the_identity_and_keeps_no_session_key(stub: tuple[WeChatStub, str]) -> None:
    wechat = provider(stub[1])
    plain = await wechat.code2session("abc")
    union = await wechat.code2session("union-abc")
    await wechat.aclose()
    assert (plain.appid, plain.openid, plain.unionid) == (APPID, "o-abc", None)
    assert (union.openid, union.unionid) == ("o-union-abc", "un-union-abc")
    assert SESSION_KEY not in repr(plain)


async def test_sign_in_through_real_wechat_creates_one_user_per_identity(
    real_wechat: tuple[WeChatStub, HttpWeChatProvider], accounts_client: httpx.AsyncClient
) -> None:
    first = await wechat_sign_in(accounts_client, "abc")
    again = await wechat_sign_in(accounts_client, "abc")
    assert first["user"]["id"] == again["user"]["id"] and first["user"]["roles"] == ["customer"]


@pytest.mark.parametrize(
    ("code", "status", "problem", "retry_after"),
    [
        ("invalid", 401, "WECHAT_CODE_INVALID", None),
        ("used", 409, "WECHAT_CODE_USED", None),
        ("limited", 429, "WECHAT_RATE_LIMITED", "60"),
        ("busy", 503, "WECHAT_UNAVAILABLE", "5"),
        ("risky", 403, "WECHAT_USER_BLOCKED", None),
        ("html", 503, "WECHAT_UNAVAILABLE", None),
        ("http502", 503, "WECHAT_UNAVAILABLE", None),
        ("slow", 503, "WECHAT_UNAVAILABLE", None),
        ("no-openid", 503, "WECHAT_UNAVAILABLE", None),
    ],
)
async def test_every_wechat_failure_is_a_clear_problem(
    real_wechat: tuple[WeChatStub, HttpWeChatProvider],
    accounts_client: httpx.AsyncClient,
    code: str,
    status: int,
    problem: str,
    retry_after: str | None,
) -> None:
    response = await accounts_client.post("/api/v1/auth/wechat", json={"code": code})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == problem
    assert response.headers.get("Retry-After") == retry_after


async def test_wrong_app_credentials_are_unavailable_not_the_users_fault(stub: tuple[WeChatStub, str]) -> None:
    wechat = HttpWeChatProvider(appid=APPID, secret="wrong" * 7, base_url=stub[1])
    with pytest.raises(WeChatUnavailable):
        await wechat.code2session("abc")
    await wechat.aclose()


async def test_wechat_unreachable_is_unavailable(accounts_app: FastAPI, accounts_client: httpx.AsyncClient) -> None:
    accounts_app.state.wechat = provider(f"http://127.0.0.1:{free_port()}")
    response = await accounts_client.post("/api/v1/auth/wechat", json={"code": "abc"})
    assert response.status_code == 503 and response.json()["code"] == "WECHAT_UNAVAILABLE"
    await accounts_app.state.wechat.aclose()


async def test_the_phone_number_is_stored_with_one_access_token_for_many_calls(
    real_wechat: tuple[WeChatStub, HttpWeChatProvider], accounts_client: httpx.AsyncClient
) -> None:
    stub, _ = real_wechat
    headers = auth((await wechat_sign_in(accounts_client, "abc"))["access_token"])
    for _ in range(2):
        me = ok(await accounts_client.post("/api/v1/me/phone", json={"code": "phone-ok"}, headers=headers))
        assert (me["phone"], me["phone_country_code"]) == (PHONE, "86")
    assert stub.token_requests == 1


async def test_a_rejected_access_token_is_renewed_once(stub: tuple[WeChatStub, str]) -> None:
    wechat_stub, base_url = stub
    wechat = provider(base_url)
    await wechat.phone_number("phone-ok")
    wechat_stub.expire_tokens()
    assert (await wechat.phone_number("phone-ok")).pure_phone_number == PHONE
    assert wechat_stub.token_requests == 2
    await wechat.aclose()


async def test_the_access_token_is_renewed_shortly_before_it_expires(stub: tuple[WeChatStub, str]) -> None:
    wechat_stub, base_url = stub
    monotonic = Monotonic()
    wechat = provider(base_url, monotonic=monotonic)
    await wechat.phone_number("phone-ok")
    monotonic.now = 7200 - 300 - 1
    await wechat.phone_number("phone-ok")
    assert wechat_stub.token_requests == 1
    monotonic.now = 7200 - 300
    await wechat.phone_number("phone-ok")
    assert wechat_stub.token_requests == 2
    await wechat.aclose()


@pytest.mark.parametrize(
    ("code", "status", "problem"),
    [
        ("invalid", 401, "WECHAT_CODE_INVALID"),
        ("limited", 429, "WECHAT_RATE_LIMITED"),
        ("busy", 503, "WECHAT_UNAVAILABLE"),
    ],
)
async def test_phone_code_failures_are_clear_problems(
    real_wechat: tuple[WeChatStub, HttpWeChatProvider],
    accounts_client: httpx.AsyncClient,
    code: str,
    status: int,
    problem: str,
) -> None:
    headers = auth((await wechat_sign_in(accounts_client, "abc"))["access_token"])
    response = await accounts_client.post("/api/v1/me/phone", json={"code": code}, headers=headers)
    assert response.status_code == status and response.json()["code"] == problem
    assert ok(await accounts_client.get("/api/v1/me", headers=headers))["phone"] is None


async def test_no_secret_reaches_the_log(
    real_wechat: tuple[WeChatStub, HttpWeChatProvider],
    accounts_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # what services run with (DEBUG logs SQL parameters, by the drivers)
    # Services keep httpx at WARNING; were it ever turned up, its request lines must still not carry the query.
    caplog.set_level(logging.INFO, logger="httpx")
    pair = await wechat_sign_in(accounts_client, "the-login-code")
    await accounts_client.post("/api/v1/me/phone", json={"code": "phone-ok"}, headers=auth(pair["access_token"]))
    await accounts_client.post("/api/v1/auth/wechat", json={"code": "invalid"})
    ours = [r for r in caplog.records if not r.name.startswith("uvicorn")]  # uvicorn here is the stand-in WeChat
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in ours)
    assert "HTTP Request: GET" in logged  # httpx did log the calls, without their query strings
    for secret in (SECRET, SESSION_KEY, "ACCESS-TOKEN-", PHONE, "the-login-code", pair["access_token"]):
        assert secret not in logged, secret
