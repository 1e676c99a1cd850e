"""Service identities come from accounts for a client secret; development tokens exist only when switched on."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.accounts.config import development_service_secret, secret_hash
from services.common.jwks import INTERNAL_AUDIENCE, InvalidToken, KeySet
from services.common.testing import asgi_client
from tests.accounts.conftest import auth, claims, ok
from tests.conftest import AppFactory


async def service_token(client: httpx.AsyncClient, service: str, secret: str) -> httpx.Response:
    return await client.post("/internal/service-tokens", json={"service": service, "secret": secret})


async def test_a_service_gets_an_internal_token_for_its_secret(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    body = ok(await service_token(accounts_client, "orders", development_service_secret("orders")))
    assert body["token_type"] == "bearer" and body["expires_in"] == 300
    document = ok(await accounts_client.get("/.well-known/jwks.json"))

    async def fetch() -> dict[str, object]:
        return dict(document)

    now = accounts_app.state.clock().timestamp()
    token = await KeySet(fetch).verify(body["access_token"], audience=INTERNAL_AUDIENCE, now=now)
    assert token.sub == "svc:orders" and token.roles == {"service"} and token.session_id is None


async def test_a_service_token_is_worthless_on_public_routes(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    body = ok(await service_token(accounts_client, "orders", development_service_secret("orders")))
    with pytest.raises(InvalidToken):
        await claims(accounts_app, body["access_token"])
    response = await accounts_client.get("/api/v1/staff", headers=auth(body["access_token"]))
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("service", "secret"),
    [("orders", "wrong"), ("orders", development_service_secret("points")), ("nobody", "anything")],
)
async def test_wrong_client_credentials_are_refused(
    accounts_client: httpx.AsyncClient, service: str, secret: str
) -> None:
    response = await service_token(accounts_client, service, secret)
    assert response.status_code == 401 and response.json()["code"] == "SERVICE_CREDENTIALS_INVALID"


async def test_configured_client_secrets_replace_the_development_ones(make_app: AppFactory, keys_dir: Path) -> None:
    app = await make_app("accounts", signing_keys_dir=keys_dir, service_clients={"orders": secret_hash("s" * 40)})
    async with asgi_client(app) as client:
        ok(await service_token(client, "orders", "s" * 40))
        assert (await service_token(client, "orders", development_service_secret("orders"))).status_code == 401
        assert (await service_token(client, "points", development_service_secret("points"))).status_code == 401


async def test_dev_tokens_carry_the_asked_roles_but_never_service(
    accounts_client: httpx.AsyncClient, accounts_app: FastAPI
) -> None:
    body = ok(await accounts_client.post("/api/v1/auth/dev-token", json={"sub": "u1", "roles": ["customer", "leader"]}))
    token = await claims(accounts_app, body["access_token"])
    assert token.sub == "u1" and token.roles == {"customer", "leader"} and token.expires_at - token.issued_at == 3600
    refused = await accounts_client.post("/api/v1/auth/dev-token", json={"sub": "x", "roles": ["service"]})
    assert refused.status_code == 422


async def test_without_dev_auth_there_is_no_dev_token_route(make_app: AppFactory, keys_dir: Path) -> None:
    app = await make_app("accounts", signing_keys_dir=keys_dir, dev_auth=False)
    async with asgi_client(app) as client:
        response = await client.post("/api/v1/auth/dev-token", json={"sub": "u1", "roles": ["ops"]})
    assert response.status_code == 404
    assert "/api/v1/auth/dev-token" not in app.openapi()["paths"]
