"""Customers sign in with WeChat; refresh tokens rotate on every use, a reused one ends the session, logout ends it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from services.accounts.jobs import prune_refresh_tokens
from services.accounts.wechat.provider import WeChatSession
from tests.accounts.conftest import Clock, auth, claims, ok, refresh, wechat_sign_in


async def test_wechat_sign_in_gives_a_customer_token_pair(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 900
    assert pair["user"]["id"].startswith("u_") and pair["user"]["roles"] == ["customer"]
    token = await claims(accounts_app, pair["access_token"])
    assert token.sub == pair["user"]["id"] and token.roles == {"customer"}
    assert token.expires_at - token.issued_at == 900
    assert token.session_id and token.token_id
    assert token.claims["iss"] == "groupbuy-accounts" and token.claims["aud"] == "groupbuy"


async def test_one_user_per_wechat_identity(accounts_client: httpx.AsyncClient) -> None:
    first = await wechat_sign_in(accounts_client, "code-a")
    again = await wechat_sign_in(accounts_client, "code-a")  # the fake maps a code to the same openid every time
    other = await wechat_sign_in(accounts_client, "code-b")
    assert first["user"]["id"] == again["user"]["id"] != other["user"]["id"]
    assert first["refresh_token"] != again["refresh_token"]  # two sign-ins, two sessions


class TwoAppsOneUnion:
    """WeChat gives the same unionid for one person in two of the platform's apps, with different openids."""

    def __init__(self) -> None:
        self.appid = "wx-shop"
        self.answers = {
            "shop": WeChatSession(appid="wx-shop", openid="o-shop", unionid=None),
            "shop-again": WeChatSession(appid="wx-shop", openid="o-shop", unionid="union-1"),
            "other-app": WeChatSession(appid="wx-other", openid="o-other", unionid="union-1"),
        }

    async def code2session(self, code: str) -> WeChatSession:
        return self.answers[code]

    async def phone_number(self, code: str) -> object:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def test_the_unionid_links_one_person_across_apps_once_wechat_gives_it(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    accounts_app.state.wechat = TwoAppsOneUnion()
    without_union = await wechat_sign_in(accounts_client, "shop")
    with_union = await wechat_sign_in(accounts_client, "shop-again")  # same openid, and now a unionid
    other_app = await wechat_sign_in(accounts_client, "other-app")  # another openid, the same unionid
    assert without_union["user"]["id"] == with_union["user"]["id"] == other_app["user"]["id"]


async def test_two_first_sign_ins_at_once_make_one_user(accounts_client: httpx.AsyncClient) -> None:
    results = await asyncio.gather(*(wechat_sign_in(accounts_client, "same-code") for _ in range(4)))
    assert len({r["user"]["id"] for r in results}) == 1


async def test_refresh_rotates_the_refresh_token_and_keeps_the_session(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI, clock: Clock
) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    clock.advance(minutes=10)
    renewed = ok(await refresh(accounts_client, pair["refresh_token"]))
    assert renewed["refresh_token"] != pair["refresh_token"]
    assert renewed["user"] == pair["user"]
    old, new = await claims(accounts_app, pair["access_token"]), await claims(accounts_app, renewed["access_token"])
    assert new.session_id == old.session_id and new.issued_at == old.issued_at + 600
    ok(await refresh(accounts_client, renewed["refresh_token"]))


async def test_a_reused_refresh_token_revokes_the_whole_family(accounts_client: httpx.AsyncClient) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    renewed = ok(await refresh(accounts_client, pair["refresh_token"]))

    reused = await refresh(accounts_client, pair["refresh_token"])  # a copy of the old token turns up
    assert reused.status_code == 401 and reused.json()["code"] == "REFRESH_TOKEN_REUSED"
    # The legitimate holder's newer token dies with the family: both must sign in again.
    after = await refresh(accounts_client, renewed["refresh_token"])
    assert after.status_code == 401 and after.json()["code"] == "REFRESH_TOKEN_REUSED"
    # Another sign-in of the same person is a separate family and unaffected.
    fresh = await wechat_sign_in(accounts_client, "code-1")
    ok(await refresh(accounts_client, fresh["refresh_token"]))


async def test_an_unknown_refresh_token_is_invalid(accounts_client: httpx.AsyncClient) -> None:
    response = await refresh(accounts_client, "not-a-token-we-issued")
    assert response.status_code == 401 and response.json()["code"] == "REFRESH_TOKEN_INVALID"


async def test_an_expired_refresh_token_is_refused(accounts_client: httpx.AsyncClient, clock: Clock) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    clock.advance(days=30, seconds=1)
    response = await refresh(accounts_client, pair["refresh_token"])
    assert response.status_code == 401 and response.json()["code"] == "REFRESH_TOKEN_EXPIRED"


async def test_each_refresh_renews_the_refresh_tokens_lifetime(
    accounts_client: httpx.AsyncClient, clock: Clock
) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    token = pair["refresh_token"]
    for _ in range(3):  # 60 days in all, never 30 without a refresh
        clock.advance(days=20)
        token = ok(await refresh(accounts_client, token))["refresh_token"]


async def test_logout_ends_the_session(accounts_client: httpx.AsyncClient) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    other_device = await wechat_sign_in(accounts_client, "code-1")
    logout = await accounts_client.post("/api/v1/auth/logout", headers=auth(pair["access_token"]))
    assert logout.status_code == 204
    response = await refresh(accounts_client, pair["refresh_token"])
    assert response.status_code == 401 and response.json()["code"] == "REFRESH_TOKEN_REUSED"
    ok(await refresh(accounts_client, other_device["refresh_token"]))  # only this session ended


async def test_logout_needs_a_token(accounts_client: httpx.AsyncClient) -> None:
    response = await accounts_client.post("/api/v1/auth/logout")
    assert response.status_code == 401 and response.json()["code"] == "INVALID_TOKEN"


async def test_an_expired_access_token_is_refused_by_accounts_itself(
    accounts_client: httpx.AsyncClient, clock: Clock
) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    clock.advance(minutes=15, seconds=6)  # past expiry and the 5 s leeway
    response = await accounts_client.get("/api/v1/me", headers=auth(pair["access_token"]))
    assert response.status_code == 401 and response.json()["code"] == "INVALID_TOKEN"


async def test_parallel_refreshes_with_one_token_let_exactly_one_win(
    accounts_client: httpx.AsyncClient,
) -> None:
    """On PostgreSQL the requests run on separate connections at the same time; one guarded update decides."""
    pair = await wechat_sign_in(accounts_client, "code-1")
    responses = await asyncio.gather(*(refresh(accounts_client, pair["refresh_token"]) for _ in range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 401, 401, 401]
    assert {r.json()["code"] for r in responses if r.status_code == 401} == {"REFRESH_TOKEN_REUSED"}
    winner = next(r.json() for r in responses if r.status_code == 200)
    # The losers were reuses, so the family is revoked: even the winner's new token is refused.
    after = await refresh(accounts_client, winner["refresh_token"])
    assert after.json()["code"] == "REFRESH_TOKEN_REUSED"


@pytest.mark.postgres
async def test_parallel_refreshes_on_postgresql_use_real_parallel_connections(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    assert not accounts_app.state.db.is_sqlite
    for round_ in range(5):
        pair = await wechat_sign_in(accounts_client, f"code-{round_}")
        responses = await asyncio.gather(*(refresh(accounts_client, pair["refresh_token"]) for _ in range(6)))
        assert sorted(r.status_code for r in responses) == [200, 401, 401, 401, 401, 401]


async def test_expired_refresh_tokens_are_pruned_a_day_after_they_expire(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI, clock: Clock
) -> None:
    pair = await wechat_sign_in(accounts_client, "code-1")
    clock.advance(days=30, hours=1)
    assert await prune_refresh_tokens(accounts_app) == 0  # expired, still answered as expired for a day
    assert (await refresh(accounts_client, pair["refresh_token"])).json()["code"] == "REFRESH_TOKEN_EXPIRED"
    clock.advance(days=1)
    assert await prune_refresh_tokens(accounts_app) == 1
    assert (await refresh(accounts_client, pair["refresh_token"])).json()["code"] == "REFRESH_TOKEN_INVALID"


async def test_refresh_tokens_are_stored_only_as_hashes(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    pair = await wechat_sign_in(accounts_client, "code-stored")
    rotated = ok(await refresh(accounts_client, pair["refresh_token"]))
    async with accounts_app.state.db.engine.connect() as conn:
        tables = [
            ", ".join(str(value) for value in row)
            for table in accounts_app.state.db.metadata.sorted_tables
            for row in (await conn.execute(table.select())).all()
        ]
    stored = "\n".join(tables)
    for token in (pair["refresh_token"], rotated["refresh_token"], pair["access_token"]):
        assert token not in stored
