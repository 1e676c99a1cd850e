"""Who a mini-program's codes belong to: WeChat's `code2session` and phone-number exchange, behind one interface.

`HttpWeChatProvider` calls WeChat (base URL a setting); `FakeWeChatProvider` answers deterministically for
development and tests. Neither logs the app secret, the access token, a session key or a phone number, and every
WeChat error becomes one of the problems in `exceptions.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import httpx
from fastapi import Depends

from services.accounts.wechat.exceptions import (
    WeChatCodeInvalid,
    WeChatCodeUsed,
    WeChatRateLimited,
    WeChatUnavailable,
    WeChatUserBlocked,
)
from services.common.app import from_app_state
from services.common.errors import DomainError

log = logging.getLogger("services.accounts.wechat")

FAKE_APPID = "wx-development"


@dataclass(frozen=True, slots=True)
class WeChatSession:
    """Who signed in. WeChat's session_key is deliberately not kept: nothing here decrypts user data with it."""

    appid: str
    openid: str
    unionid: str | None


@dataclass(frozen=True, slots=True)
class WeChatPhone:
    phone_number: str  # as WeChat shows it, with the country code for numbers outside China
    pure_phone_number: str  # without the country code
    country_code: str


class WeChatProvider(Protocol):
    appid: str

    async def code2session(self, code: str) -> WeChatSession:
        """The WeChat identity behind a wx.login() code (each code works once)."""
        ...

    async def phone_number(self, code: str) -> WeChatPhone:
        """The phone number behind a getPhoneNumber code from the mini-program."""
        ...

    async def aclose(self) -> None: ...


class FakeWeChatProvider:
    """The same code always gives the same identity and phone number, so demos can sign in again as the same user.
    A code starting with `unionid:` also carries a unionid (the text after the prefix), to try account linking."""

    def __init__(self, appid: str = FAKE_APPID) -> None:
        self.appid = appid

    async def code2session(self, code: str) -> WeChatSession:
        unionid = code.removeprefix("unionid:") if code.startswith("unionid:") else None
        digest = hashlib.sha256(f"openid:{self.appid}:{code}".encode()).hexdigest()
        return WeChatSession(appid=self.appid, openid="o" + digest[:27], unionid=unionid)

    async def phone_number(self, code: str) -> WeChatPhone:
        digits = int(hashlib.sha256(f"phone:{code}".encode()).hexdigest(), 16) % 10**8
        pure = f"138{digits:08d}"
        return WeChatPhone(phone_number=pure, pure_phone_number=pure, country_code="86")

    async def aclose(self) -> None:
        return None


#: errcode -> the problem it becomes. Anything not listed is WeChat failing on its side (or ours): 503.
_CODE_INVALID = {40029}
_CODE_USED = {40163}
_RATE_LIMITED = {45011, 45009}
_BLOCKED = {40226}
_BUSY = {-1}
#: The access token was refused: fetch a new one and try once more.
_TOKEN_REJECTED = {40001, 40014, 42001}


def _problem(errcode: int, action: str) -> DomainError:
    if errcode in _CODE_INVALID:
        return WeChatCodeInvalid(f"WeChat rejected the code ({action}, errcode {errcode})")
    if errcode in _CODE_USED:
        return WeChatCodeUsed(f"The code was used already ({action}, errcode {errcode})")
    if errcode in _RATE_LIMITED:
        return WeChatRateLimited(f"WeChat's rate limit was reached ({action}, errcode {errcode})")
    if errcode in _BLOCKED:
        return WeChatUserBlocked(f"WeChat blocks this user ({action}, errcode {errcode})")
    if errcode in _BUSY:
        return WeChatUnavailable(f"WeChat is busy ({action}, errcode {errcode})", retry_after_seconds=5)
    return WeChatUnavailable(f"WeChat refused the request ({action}, errcode {errcode})")


class HttpWeChatProvider:
    """WeChat's HTTP API: `GET /sns/jscode2session`, `GET /cgi-bin/token` (cached until shortly before it
    expires) and `POST /wxa/business/getuserphonenumber`."""

    #: Renew the access token this long before WeChat says it expires (it is shared by every call of this process).
    TOKEN_MARGIN_SECONDS = 300

    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        base_url: str = "https://api.weixin.qq.com",
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.appid = appid
        self._secret = secret
        self._base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds)
        self._owns_client = client is None
        self._timeout = timeout_seconds
        self._monotonic = monotonic
        self._access_token: str | None = None
        self._token_renew_at = 0.0
        self._token_lock = asyncio.Lock()

    async def code2session(self, code: str) -> WeChatSession:
        body = await self._call(
            "jscode2session",
            "GET",
            "/sns/jscode2session",
            params={"appid": self.appid, "secret": self._secret, "js_code": code, "grant_type": "authorization_code"},
        )
        _raise_for_errcode(body, "jscode2session")
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatUnavailable("WeChat's answer to jscode2session has no openid")
        unionid = body.get("unionid")
        return WeChatSession(
            appid=self.appid, openid=openid, unionid=unionid if isinstance(unionid, str) and unionid else None
        )

    async def phone_number(self, code: str) -> WeChatPhone:
        for attempt in (1, 2):
            token = await self._token()
            body = await self._call(
                "getuserphonenumber",
                "POST",
                "/wxa/business/getuserphonenumber",
                params={"access_token": token},
                json={"code": code},
            )
            errcode = _errcode(body)
            if errcode in _TOKEN_REJECTED and attempt == 1:
                self._forget_token(token)
                continue
            _raise_for_errcode(body, "getuserphonenumber")
            return _phone(body)
        raise WeChatUnavailable("WeChat keeps refusing our access token")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _token(self) -> str:
        if self._access_token is not None and self._monotonic() < self._token_renew_at:
            return self._access_token
        async with self._token_lock:  # one fetch for all the requests that found the token stale
            if self._access_token is not None and self._monotonic() < self._token_renew_at:
                return self._access_token
            body = await self._call(
                "token",
                "GET",
                "/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self._secret},
            )
            _raise_for_errcode(body, "token")
            token = body.get("access_token")
            expires_in = body.get("expires_in")
            if not isinstance(token, str) or not token or not isinstance(expires_in, int) or expires_in <= 0:
                raise WeChatUnavailable("WeChat's answer to cgi-bin/token has no usable access token")
            margin = min(self.TOKEN_MARGIN_SECONDS, expires_in // 2)
            self._access_token = token
            self._token_renew_at = self._monotonic() + expires_in - margin
            return token

    def _forget_token(self, token: str) -> None:
        if self._access_token == token:
            self._access_token = None

    async def _call(
        self, action: str, method: str, path: str, *, params: Mapping[str, str], json: Any = None
    ) -> dict[str, Any]:
        try:
            response = await self._client.request(
                method, self._base_url + path, params=params, json=json, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise WeChatUnavailable(f"WeChat did not answer {action} in time") from exc
        except httpx.HTTPError as exc:
            log.warning("WeChat unreachable", extra={"action": action, "error": type(exc).__name__})
            raise WeChatUnavailable(f"WeChat could not be reached for {action}") from exc
        if response.status_code != 200:
            raise WeChatUnavailable(f"WeChat answered {action} with HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise WeChatUnavailable(f"WeChat's answer to {action} is not JSON") from None
        if not isinstance(body, dict):
            raise WeChatUnavailable(f"WeChat's answer to {action} is not a JSON object")
        return body


def _errcode(body: Mapping[str, Any]) -> int:
    errcode = body.get("errcode", 0)
    if isinstance(errcode, bool) or not isinstance(errcode, int):
        raise WeChatUnavailable("WeChat's answer has an unreadable errcode")
    return errcode


def _raise_for_errcode(body: Mapping[str, Any], action: str) -> None:
    errcode = _errcode(body)
    if errcode == 0:
        return
    # errmsg is WeChat's own text (it never echoes secrets); it helps when an errcode is new to us.
    errmsg = str(body.get("errmsg", ""))[:200]
    log.warning("WeChat refused a request", extra={"action": action, "errcode": errcode, "errmsg": errmsg})
    raise _problem(errcode, action)


def _phone(body: Mapping[str, Any]) -> WeChatPhone:
    info = body.get("phone_info")
    if not isinstance(info, dict):
        raise WeChatUnavailable("WeChat's answer to getuserphonenumber has no phone_info")
    phone, pure, country = info.get("phoneNumber"), info.get("purePhoneNumber"), info.get("countryCode")
    if not all(isinstance(v, str) and v for v in (phone, pure, country)):
        raise WeChatUnavailable("WeChat's phone_info is incomplete")
    assert isinstance(phone, str) and isinstance(pure, str) and isinstance(country, str)
    return WeChatPhone(phone_number=phone, pure_phone_number=pure, country_code=country)


class RedactQueryStrings(logging.Filter):
    """httpx logs every request's full URL at INFO; WeChat's URLs carry the app secret, the login code and the
    access token in the query, so the query is cut from those lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 2:
            url = record.args[1]
            if isinstance(url, httpx.URL) and url.query:
                record.args = (record.args[0], url.copy_with(query=None), *record.args[2:])
        return True


def redact_httpx_urls() -> None:
    """Install `RedactQueryStrings` on the httpx logger once per process."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactQueryStrings) for f in logger.filters):
        logger.addFilter(RedactQueryStrings())


#: The one `create_app` put on the app state (tests pass fakes to `create_app`).
WeChatDep = Annotated[WeChatProvider, Depends(from_app_state("wechat"))]
