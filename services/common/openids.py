"""A user's WeChat openid in our mini-program, asked of the accounts service (which owns WeChat identities):
`GET {accounts}/internal/users/{user_id}/wechat-openid` with this service's own identity. Orders needs it for the
payer of a WeChat Pay order, leaders for the payee of a payout. Answers are kept: an openid never changes."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx

from services.common.auth import TokenSource

_KEPT = 100_000


class OpenIdUnavailable(Exception):
    """Accounts could not say (down, refused, or the user has no WeChat identity); the message says which."""


class AccountsOpenIds:
    def __init__(self, client: Callable[[], httpx.AsyncClient], tokens: TokenSource, accounts_url: str) -> None:
        self._client = client
        self._tokens = tokens
        self._base_url = accounts_url.rstrip("/")
        self._known: dict[str, str] = {}

    async def openid_of(self, user_id: str) -> str:
        if user_id in self._known:
            return self._known[user_id]
        url = f"{self._base_url}/internal/users/{quote(user_id, safe='')}/wechat-openid"
        try:
            headers = {"Authorization": f"Bearer {await self._tokens.token()}"}
            response = await self._client().get(url, headers=headers)
        except (httpx.HTTPError, OSError) as exc:
            raise OpenIdUnavailable(f"the accounts service did not answer ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise OpenIdUnavailable(f"the accounts service answered {response.status_code}")
        openid = response.json().get("openid")
        if not isinstance(openid, str) or not openid:
            raise OpenIdUnavailable("the user has no WeChat identity in this mini-program")
        if len(self._known) >= _KEPT:
            self._known.clear()
        self._known[user_id] = openid
        return openid
