"""The accounts service: users, staff, roles and sessions, and the only signer of tokens (JWKS published)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import FastAPI

from services.accounts.audit.router import router as audit_router
from services.accounts.auth.router import dev_router
from services.accounts.auth.router import router as auth_router
from services.accounts.config import Settings, get_settings
from services.accounts.db import inbox, outbox
from services.accounts.jobs import prune_refresh_tokens
from services.accounts.keys.issuer import TokenIssuer
from services.accounts.keys.router import router as keys_router
from services.accounts.keys.store import SigningKeyStore
from services.accounts.models import metadata
from services.accounts.privacy.router import router as privacy_router
from services.accounts.privacy.sources import ExportSource, HttpExportSource
from services.accounts.problems import install_retry_after
from services.accounts.production import ensure_production_ready
from services.accounts.service_identity.router import router as service_identity_router
from services.accounts.service_identity.service import OwnServiceToken
from services.accounts.staff.passwords import PasswordHasher
from services.accounts.staff.router import router as staff_router
from services.accounts.subscriptions import HANDLERS
from services.accounts.users.internal import router as users_internal_router
from services.accounts.users.router import me_router, users_router
from services.accounts.wechat.provider import (
    FakeWeChatProvider,
    HttpWeChatProvider,
    WeChatProvider,
    redact_httpx_urls,
)
from services.common.app import build_service_app
from services.common.auth import TokenVerifier
from services.common.clock import utcnow
from services.common.events.wiring import ServiceEvents
from services.common.jobs import every
from services.common.jwks import KeySet


def _wechat(settings: Settings) -> WeChatProvider:
    if settings.wechat_provider == "http":
        return HttpWeChatProvider(
            appid=settings.wechat_appid,
            secret=settings.wechat_secret.get_secret_value(),
            base_url=settings.wechat_base_url,
            timeout_seconds=settings.wechat_timeout_seconds,
        )
    return FakeWeChatProvider()


def _own_keys(settings: Settings, issuer: TokenIssuer) -> KeySet:
    """Accounts checks the tokens sent to it the way every service does: a `KeySet`, fed from its own key
    directory instead of over HTTP."""

    async def own_jwks() -> Mapping[str, Any]:
        return issuer.jwks(utcnow())

    return KeySet(
        own_jwks,
        issuer=settings.token_issuer,
        max_lifetime_seconds=settings.auth_max_token_lifetime_seconds,
        cache_seconds=5.0,
        min_refetch_seconds=1.0,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    keys = SigningKeyStore(
        settings.signing_keys_dir,
        allow_generate=not settings.production,
        activation_seconds=settings.signing_key_activation_seconds,
    )
    if settings.production:
        ensure_production_ready(settings, keys, now=utcnow())
    redact_httpx_urls()
    issuer = TokenIssuer(keys, issuer=settings.token_issuer)
    wechat = _wechat(settings)
    http = httpx.AsyncClient(timeout=settings.export_timeout_seconds)
    own_token = OwnServiceToken(issuer, ttl_seconds=settings.service_token_ttl_seconds)
    export_sources: list[ExportSource] = [
        HttpExportSource(name, url, client=http, token=own_token, timeout_seconds=settings.export_timeout_seconds)
        for name, url in sorted(settings.export_sources.items())
    ]

    async def load_keys(app: FastAPI) -> None:
        # At start-up rather than on the first sign-in: a development key is generated now, and an unusable key
        # directory stops the process with the setting named instead of failing requests later.
        keys.keys(utcnow())

    async def close_clients(app: FastAPI) -> None:
        await app.state.wechat.aclose()
        await http.aclose()

    routers = [auth_router, me_router, privacy_router, users_router, staff_router, keys_router]
    routers.append(service_identity_router)
    routers.append(users_internal_router)
    routers.append(audit_router)
    if settings.dev_auth:
        routers.append(dev_router())
    app = build_service_app(
        service="accounts",
        title="Accounts service",
        settings=settings,
        metadata=metadata,
        routers=routers,
        background_jobs=[every(settings.prune_interval_seconds, prune_refresh_tokens)],
        on_startup=[load_keys],
        on_shutdown=[close_clients],
        extra_state={
            "issuer": issuer,
            # Verified against the app's clock, which tests move: `app` is bound once it exists (below).
            "token_verifier": TokenVerifier(_own_keys(settings, issuer), clock=lambda: app.state.clock().timestamp()),
            "service_tokens": own_token,
            "wechat": wechat,
            "export_sources": export_sources,
            "passwords": PasswordHasher(),
        },
        events=ServiceEvents(outbox=outbox, inbox=inbox, handlers=HANDLERS),
    )
    install_retry_after(app)
    return app
