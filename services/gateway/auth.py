"""The gateway's own login endpoints: development tokens and WeChat mini-program login."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth import Role, issue_token
from services.common.errors import problem_docs
from services.gateway.config import GatewaySettings
from services.gateway.identity import IdentityProvider, IdentityProviderUnavailable

Subject = Annotated[
    str,
    # Visible ASCII only: the subject ends up in logs, URLs and other services' tables.
    Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$", examples=["u1"]),
]


class DevTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sub: Subject
    roles: list[Role] = Field(min_length=1, max_length=4, examples=[["customer"]])


class WeChatLoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=128, description="The one-time code from wx.login()")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires")


def _token(settings: GatewaySettings, sub: str, roles: Iterable[str]) -> TokenResponse:
    ttl = settings.dev_token_ttl_seconds
    token = issue_token(sub, roles, secret=settings.jwt_secret, algorithm=settings.jwt_algorithm, ttl_seconds=ttl)
    return TokenResponse(access_token=token, expires_in=ttl)


def build_auth_router(settings: GatewaySettings, identity_provider: IdentityProvider) -> APIRouter:
    router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

    if settings.dev_auth:
        # Registered only when enabled, so a production gateway answers 404 and its document does not list it.
        @router.post("/dev-token", responses=problem_docs())
        async def issue_dev_token(body: DevTokenRequest) -> TokenResponse:
            """Issue a token for any user and roles (development only)."""
            return _token(settings, body.sub, body.roles)

    @router.post("/wechat", responses=problem_docs(IdentityProviderUnavailable))
    async def wechat_login(body: WeChatLoginRequest) -> TokenResponse:
        """Log in from the mini-program with a wx.login() code."""
        identity = await identity_provider.identify(body.code)
        return _token(settings, identity.sub, identity.roles)

    return router
