"""A person's data: exported complete (or not at all), and erased on request while money records stay intact."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Header, HTTPException

from services.accounts.privacy.exceptions import ExportSourceUnavailable
from services.accounts.privacy.sources import HttpExportSource
from services.accounts.service_identity.service import OwnServiceToken
from services.accounts.users.repository import get_user, list_identities
from services.common.events.contract import USER_ERASED
from services.common.jwks import INTERNAL_AUDIENCE, KeySet
from services.common.testing import free_port
from tests.accounts.conftest import Clock, auth, ok, outbox_events, refresh, wechat_sign_in


class FakeSource:
    def __init__(self, name: str, data: dict[str, Any] | None = None, *, fails: bool = False) -> None:
        self.name = name
        self.data = data or {}
        self.fails = fails
        self.asked: list[str] = []

    async def export(self, user_id: str) -> dict[str, Any]:
        self.asked.append(user_id)
        if self.fails:
            raise ExportSourceUnavailable(f"The {self.name} service could not export", source=self.name)
        return self.data


async def signed_in(client: httpx.AsyncClient, code: str = "code-1") -> tuple[dict[str, Any], dict[str, str]]:
    pair = await wechat_sign_in(client, code)
    return pair, auth(pair["access_token"])


async def test_the_export_holds_accounts_data_and_every_services_answer(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI, clock: Clock
) -> None:
    orders = FakeSource("orders", {"orders": [{"id": 1, "paid_fen": 1990}]})
    points = FakeSource("points", {"balance": 120})
    accounts_app.state.export_sources = [orders, points]
    pair, headers = await signed_in(accounts_client)
    ok(await accounts_client.patch("/api/v1/me", json={"nickname": "小王"}, headers=headers))
    ok(await accounts_client.post("/api/v1/me/phone", json={"code": "p"}, headers=headers))

    export = ok(await accounts_client.get("/api/v1/me/export", headers=headers))
    user_id = pair["user"]["id"]
    assert export["user_id"] == user_id and list(export["services"]) == ["accounts", "orders", "points"]
    own = export["services"]["accounts"]
    assert own["profile"]["nickname"] == "小王" and "*" not in own["profile"]["phone"]
    assert [i["appid"] for i in own["wechat_identities"]] == ["wx-development"]
    assert len(own["sessions"]) == 1 and own["leader_status"] is None
    assert export["services"]["orders"] == {"orders": [{"id": 1, "paid_fen": 1990}]}
    assert export["services"]["points"] == {"balance": 120}
    assert orders.asked == points.asked == [user_id]


async def test_a_service_that_cannot_answer_fails_the_export_and_is_named(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    accounts_app.state.export_sources = [FakeSource("orders"), FakeSource("points", fails=True)]
    _, headers = await signed_in(accounts_client)
    response = await accounts_client.get("/api/v1/me/export", headers=headers)
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "EXPORT_SOURCE_UNAVAILABLE" and body["source"] == "points"
    assert "points" in body["detail"] and "services" not in body  # nothing partial


def stub_service(keys: KeySet, now: float) -> FastAPI:
    """A service's internal export endpoint, checking the caller's service token like the real ones will."""
    app = FastAPI()

    @app.get("/internal/users/{user_id}/export")
    async def export(user_id: str, authorization: str = Header()) -> dict[str, Any]:
        token = await keys.verify(authorization.removeprefix("Bearer "), audience=INTERNAL_AUDIENCE, now=now)
        if token.roles != {"service"}:
            raise HTTPException(403)
        return {"user_id": user_id, "asked_by": token.sub}

    @app.get("/broken/internal/users/{user_id}/export")
    async def broken(user_id: str) -> dict[str, Any]:
        raise HTTPException(500)

    return app


async def test_the_http_source_calls_with_an_internal_service_token(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    async def own_jwks() -> dict[str, Any]:
        return dict(ok(await accounts_client.get("/.well-known/jwks.json")))

    stub = stub_service(KeySet(own_jwks), now=accounts_app.state.clock().timestamp())
    token = OwnServiceToken(accounts_app.state.issuer, ttl_seconds=300, clock=accounts_app.state.clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stub)) as client:
        source = HttpExportSource("points", "http://points", client=client, token=token, timeout_seconds=2)
        assert await source.export("u_1") == {"user_id": "u_1", "asked_by": "svc:accounts"}
        broken = HttpExportSource("orders", "http://orders/broken", client=client, token=token, timeout_seconds=2)
        with pytest.raises(ExportSourceUnavailable) as caught:
            await broken.export("u_1")
        assert caught.value.extra == {"source": "orders"}
    async with httpx.AsyncClient() as real_client:
        url = f"http://127.0.0.1:{free_port()}"  # nobody listens there
        down = HttpExportSource("leaders", url, client=real_client, token=token, timeout_seconds=2)
        with pytest.raises(ExportSourceUnavailable):
            await down.export("u_1")


async def test_erasure_anonymises_ends_sessions_and_tells_the_other_services(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI, clock: Clock
) -> None:
    pair, headers = await signed_in(accounts_client)
    user_id = pair["user"]["id"]
    changes = {"nickname": "小王", "region": "上海", "birthday": "1990-01-01", "avatar_url": "https://a.cn/x.png"}
    ok(await accounts_client.patch("/api/v1/me", json=changes, headers=headers))
    ok(await accounts_client.post("/api/v1/me/phone", json={"code": "p"}, headers=headers))
    other_device = await wechat_sign_in(accounts_client, "code-1")

    erased = await accounts_client.delete("/api/v1/me", headers=headers)
    assert erased.status_code == 204

    gone = await accounts_client.get("/api/v1/me", headers=headers)
    assert gone.status_code == 410 and gone.json()["code"] == "USER_ERASED"
    for session in (pair, other_device):
        assert (await refresh(accounts_client, session["refresh_token"])).status_code == 401
    assert await outbox_events(accounts_app, USER_ERASED) == [
        {"user_id": user_id, "at": clock().isoformat().replace("+00:00", "Z")}
    ]
    async with accounts_app.state.db.reading() as session:
        user = await get_user(session, user_id)
        assert user is not None and user.erased_at is not None  # the id stays, for money records
        assert (user.nickname, user.region, user.birthday, user.avatar_url, user.phone) == (None,) * 5
        assert await list_identities(session, user_id) == []

    # The same WeChat account signing in again is a new person with nothing of the old one.
    again = await wechat_sign_in(accounts_client, "code-1")
    assert again["user"]["id"] != user_id
    assert ok(await accounts_client.get("/api/v1/me", headers=auth(again["access_token"])))["nickname"] is None


async def test_erasing_twice_changes_nothing_more(accounts_client: httpx.AsyncClient, accounts_app: FastAPI) -> None:
    _, headers = await signed_in(accounts_client)
    assert (await accounts_client.delete("/api/v1/me", headers=headers)).status_code == 204
    assert (await accounts_client.delete("/api/v1/me", headers=headers)).status_code == 204
    assert len(await outbox_events(accounts_app, USER_ERASED)) == 1


async def test_the_export_of_an_erased_user_is_gone(accounts_client: httpx.AsyncClient) -> None:
    _, headers = await signed_in(accounts_client)
    await accounts_client.delete("/api/v1/me", headers=headers)
    assert (await accounts_client.get("/api/v1/me/export", headers=headers)).status_code == 410
