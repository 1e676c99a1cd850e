"""The services that move money through WeChat Pay ask accounts for a user's openid in our mini-program."""

from __future__ import annotations

import httpx

from services.accounts.config import development_service_secret
from tests.accounts.conftest import auth, ok, wechat_sign_in


async def test_a_service_gets_a_users_openid_and_nobody_else_does(accounts_client: httpx.AsyncClient) -> None:
    signed_in = await wechat_sign_in(accounts_client, "code-pay-1")
    user_id = signed_in["user"]["id"]
    service = ok(
        await accounts_client.post(
            "/internal/service-tokens", json={"service": "orders", "secret": development_service_secret("orders")}
        )
    )
    headers = auth(service["access_token"])
    found = ok(await accounts_client.get(f"/internal/users/{user_id}/wechat-openid", headers=headers))
    again = ok(await accounts_client.get(f"/internal/users/{user_id}/wechat-openid", headers=headers))
    assert found["openid"].startswith("o") and again == found
    unknown = await accounts_client.get("/internal/users/nobody/wechat-openid", headers=headers)
    assert unknown.status_code == 404 and unknown.json()["code"] == "WECHAT_IDENTITY_NOT_FOUND"
    as_the_user = await accounts_client.get(
        f"/internal/users/{user_id}/wechat-openid", headers=auth(signed_in["access_token"])
    )
    assert as_the_user.status_code == 401
    anonymous = await accounts_client.get(f"/internal/users/{user_id}/wechat-openid")
    assert anonymous.status_code == 401
