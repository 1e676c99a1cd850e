"""Verifying tokens in every process: the cache of verified tokens, who a token stands for, what staff may do on a
route, and a service's own identity from accounts."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from services.common.auth import (
    BearerAuth,
    CurrentUser,
    Principal,
    Role,
    ServiceIdentityUnavailable,
    ServiceTokens,
    TokenVerifier,
    require_roles,
    signed_in,
)
from services.common.errors import install_error_handlers
from services.common.jwks import INTERNAL_AUDIENCE, PUBLIC_AUDIENCE, InvalidToken, KeySet
from services.common.permissions import Permission
from services.common.testing import (
    asgi_client,
    bearer,
    jwks_url_for_tests,
    service_token,
    sign_test_token,
    verifier_for_tests,
)

NOW = 2_000_000_000.0
#: Module level: this module's annotations are strings, resolved in its globals.
Reader = Annotated[Principal, Depends(signed_in(Permission.ORDERS_READ))]


class CountingKeys(KeySet):
    def __init__(self) -> None:
        super().__init__(jwks_url_for_tests())
        self.verified = 0

    async def verify(self, token: str, **kwargs: Any) -> Any:
        self.verified += 1
        return await super().verify(token, **kwargs)


async def test_a_verified_token_is_remembered_until_its_exp_and_no_longer() -> None:
    now = [NOW]
    keys = CountingKeys()
    verifier = TokenVerifier(keys, clock=lambda: now[0])
    token = sign_test_token("u1", ["customer"], issued_at=NOW, ttl_seconds=900)
    for _ in range(3):
        assert (await verifier.verify(token)).sub == "u1"
    assert keys.verified == 1
    now[0] = NOW + 900  # the token's exp
    await verifier.verify(token)  # verified again (the clock leeway still lets it through)
    assert keys.verified == 2
    now[0] = NOW + 906
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_a_remembered_token_is_not_good_for_another_audience() -> None:
    verifier = verifier_for_tests()
    token = service_token("orders")
    assert (await verifier.verify(token, INTERNAL_AUDIENCE)).service == "orders"
    with pytest.raises(InvalidToken):
        await verifier.verify(token, PUBLIC_AUDIENCE)


async def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    verifier = TokenVerifier(KeySet(jwks_url_for_tests()), max_entries=2)
    tokens = [sign_test_token(f"u{n}", ["customer"]) for n in range(3)]
    for token in tokens:
        await verifier.verify(token)
    assert list(verifier._cache) == tokens[1:]


@pytest.mark.parametrize(
    ("roles", "audience"),
    [
        (["service"], PUBLIC_AUDIENCE),  # a service identity on a public route
        (["customer", "service"], PUBLIC_AUDIENCE),
        (["admin"], PUBLIC_AUDIENCE),  # a role nobody issues
        (["customer"], INTERNAL_AUDIENCE),  # a person on an internal route
        (["service", "ops"], INTERNAL_AUDIENCE),
    ],
)
async def test_role_sets_that_do_not_fit_the_audience_are_refused(roles: list[str], audience: str) -> None:
    token = sign_test_token("svc:orders" if "service" in roles else "u1", roles, audience=audience)
    with pytest.raises(InvalidToken):
        await verifier_for_tests().verify(token, audience)


def test_a_service_identity_holds_no_permission_and_staff_hold_only_what_the_route_names() -> None:
    service = Principal(sub="svc:orders", roles=frozenset({"service"}))
    assert service.service == "orders" and not any(service.can(p) for p in Permission)
    ops = Principal(sub="s_1", roles=frozenset({"ops"}))
    assert all(ops.can(p) for p in Permission)
    on_a_catalogue_route = ops.scoped(frozenset({Permission.CATALOGUE_MANAGE}))
    assert on_a_catalogue_route.can(Permission.CATALOGUE_MANAGE)
    assert not on_a_catalogue_route.can(Permission.WITHDRAWALS_DECIDE)
    assert Principal(sub="u1", roles=frozenset({"customer"})).service is None


def test_a_staff_role_cannot_stand_in_for_a_permission() -> None:
    with pytest.raises(ValueError, match="permission"):
        require_roles(Role.OPS)
    with pytest.raises(ValueError, match="permission"):
        BearerAuth(["finance"])


async def test_on_a_route_that_names_no_permission_staff_act_as_anyone_else() -> None:
    router = APIRouter()

    @router.get("/plain")
    async def plain(user: CurrentUser) -> dict[str, bool]:
        return {"reads_any_order": user.can(Permission.ORDERS_READ)}

    @router.get("/named")
    async def named(user: Reader) -> dict[str, bool]:
        return {"reads_any_order": user.can(Permission.ORDERS_READ)}

    app = FastAPI()
    app.state.token_verifier = verifier_for_tests()
    install_error_handlers(app)
    app.include_router(router)
    async with asgi_client(app) as client:
        ops = bearer("s_1", ["ops"])
        assert (await client.get("/plain", headers=ops)).json() == {"reads_any_order": False}
        assert (await client.get("/named", headers=ops)).json() == {"reads_any_order": True}
        service = {"Authorization": f"Bearer {service_token('orders')}"}
        assert (await client.get("/named", headers=service)).status_code == 401  # not on a public route


class FakeAccounts:
    def __init__(self, status: int = 200, expires_in: int = 300) -> None:
        self.status = status
        self.expires_in = expires_in
        self.calls: list[dict[str, Any]] = []

    async def handler(self, request: httpx.Request) -> httpx.Response:
        import json

        self.calls.append(json.loads(request.content))
        await asyncio.sleep(0)
        if self.status != 200:
            return httpx.Response(self.status, json={"code": "SERVICE_CREDENTIALS_INVALID"})
        return httpx.Response(200, json={"access_token": f"t{len(self.calls)}", "expires_in": self.expires_in})


async def test_a_service_asks_accounts_for_its_token_once_per_half_lifetime() -> None:
    accounts = FakeAccounts(expires_in=300)
    now = [0.0]
    client = httpx.AsyncClient(transport=httpx.MockTransport(accounts.handler))
    tokens = ServiceTokens(
        service="orders", secret="s3cret", accounts_url="http://accounts/", client=client, monotonic=lambda: now[0]
    )
    assert await asyncio.gather(*(tokens.token() for _ in range(5))) == ["t1"] * 5  # one call for five callers
    assert accounts.calls == [{"service": "orders", "secret": "s3cret"}]
    now[0] = 149
    assert await tokens.token() == "t1"
    now[0] = 150
    assert await tokens.token() == "t2"
    await client.aclose()


async def test_a_refused_secret_is_a_clear_503_not_a_crash() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(FakeAccounts(status=401).handler))
    tokens = ServiceTokens(service="orders", secret="wrong", accounts_url="http://accounts", client=client)
    with pytest.raises(ServiceIdentityUnavailable) as caught:
        await tokens.token()
    assert caught.value.status == 503 and "401" in str(caught.value.detail)
    await client.aclose()
