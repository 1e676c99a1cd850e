"""The gateway checks every bearer token before a byte reaches a service: a bad token is refused with the same 401
problem a service gives, a good one passes (and is remembered until it expires), a request without one passes
untouched (payment notifications, sign-in)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.jwks import JwksUnavailable, KeySet
from services.common.testing import bad_authorizations, bearer, jwks_url_for_tests, sign_test_token
from services.gateway.tokens import TokenCheck
from tests.gateway.gateway_standins import CountingTransport, GatewayFactory


@pytest.mark.parametrize(("case", "authorization"), sorted(bad_authorizations().items()))
async def test_a_bad_token_is_refused_at_the_gateway_and_never_reaches_a_service(
    make_gateway: GatewayFactory, upstream_apps: dict[str, FastAPI], case: str, authorization: str
) -> None:
    orders = CountingTransport(upstream_apps["orders"])
    async with make_gateway({"orders": orders}) as gateway:
        response = await gateway.post(
            "/api/v1/orders/echo", content=b"{}", headers={"Authorization": authorization, "X-Request-Id": "r-1"}
        )
    assert response.status_code == 401, case
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["x-request-id"] == "r-1"
    body = response.json()
    assert body["code"] == "INVALID_TOKEN" and body["status"] == 401, case
    assert orders.paths == [], case


async def test_a_good_token_reaches_the_service_unchanged(gateway: httpx.AsyncClient) -> None:
    headers = bearer("u1", ["customer", "leader"])
    echo = (await gateway.get("/api/v1/orders/echo", headers=headers)).json()
    assert ["authorization", headers["Authorization"]] in echo["headers"]


async def test_requests_without_credentials_pass_for_the_service_to_decide(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/orders/echo")
    assert response.status_code == 200 and response.json()["service"] == "orders"


async def test_two_authorization_headers_are_refused(gateway: httpx.AsyncClient) -> None:
    good = bearer("u1", ["customer"])["Authorization"]
    request = gateway.build_request("GET", "/api/v1/orders/echo")
    request.headers = httpx.Headers([("authorization", good), ("authorization", good)])
    response = await gateway.send(request)
    assert response.status_code == 401


class CountingKeys(KeySet):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.verified = 0

    async def verify(self, token: str, **kwargs: Any) -> Any:
        self.verified += 1
        return await super().verify(token, **kwargs)


async def test_a_token_that_passed_is_not_verified_again_until_it_expires() -> None:
    now = [1_000_000.0]
    keys = CountingKeys(jwks_url_for_tests())
    check = TokenCheck(keys, clock=lambda: now[0])
    token = sign_test_token("u1", ["customer"], issued_at=now[0], ttl_seconds=600)
    header = f"Bearer {token}".encode()
    assert await check.refusal(header) is None
    assert await check.refusal(header) is None
    assert keys.verified == 1
    now[0] += 600  # the token's exp: remembered no longer, verified again (within the clock leeway it still passes)
    assert await check.refusal(header) is None and keys.verified == 2
    now[0] += 10
    refused = await check.refusal(header)
    assert refused is not None and refused[0] == 401 and keys.verified == 3


async def test_the_cache_is_bounded() -> None:
    check = TokenCheck(KeySet(jwks_url_for_tests()), max_entries=3)
    for n in range(5):
        assert await check.refusal(f"Bearer {sign_test_token(f'u{n}', ['customer'])}".encode()) is None
    assert len(check._passed) == 3


async def test_when_the_keys_cannot_be_fetched_the_gateway_says_so_with_503(
    make_gateway: GatewayFactory, tmp_path: Any
) -> None:
    async with make_gateway(auth_jwks_url=(tmp_path / "missing.json").as_uri()) as gateway:
        response = await gateway.get("/api/v1/orders/echo", headers=bearer("u1", ["customer"]))
    assert response.status_code == 503 and response.json()["code"] == JwksUnavailable.code
