"""Request dependencies of the accounts routers: settings, database, keys, providers, and the caller.

The caller is verified with accounts' own published keys through the same `KeySet` every service will use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.accounts.config import Settings
from services.accounts.keys.issuer import TokenIssuer
from services.accounts.privacy.sources import ExportSource
from services.accounts.roles import CUSTOMER, OPS, STAFF_ROLES
from services.accounts.staff.passwords import PasswordHasher
from services.accounts.wechat.provider import WeChatProvider
from services.common.app import NowDep, from_app_state
from services.common.auth import MissingRole
from services.common.db import Database
from services.common.jwks import InvalidToken, KeySet, VerifiedToken

__all__ = [
    "Caller",
    "CustomerCaller",
    "DatabaseDep",
    "ExportSourcesDep",
    "IssuerDep",
    "NowDep",
    "OpsCaller",
    "PasswordsDep",
    "SettingsDep",
    "StaffCaller",
    "WeChatDep",
]

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
DatabaseDep = Annotated[Database, Depends(from_app_state("db"))]
IssuerDep = Annotated[TokenIssuer, Depends(from_app_state("issuer"))]
WeChatDep = Annotated[WeChatProvider, Depends(from_app_state("wechat"))]
ExportSourcesDep = Annotated[Sequence[ExportSource], Depends(from_app_state("export_sources"))]
PasswordsDep = Annotated[PasswordHasher, Depends(from_app_state("passwords"))]

_bearer = HTTPBearer(
    auto_error=False, description="Access token from /api/v1/auth/wechat, /api/v1/auth/staff or /api/v1/auth/refresh"
)


async def current_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> VerifiedToken:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken("A bearer token is required")
    verifier: KeySet = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials, now=request.app.state.clock().timestamp())


Caller = Annotated[VerifiedToken, Depends(current_caller)]


def require_roles(*roles: str) -> Callable[[VerifiedToken], Awaitable[VerifiedToken]]:
    """Lets through callers holding any of `roles`."""

    async def check(caller: Caller) -> VerifiedToken:
        if not caller.has(*roles):
            raise MissingRole(f"This action needs one of the roles: {', '.join(sorted(roles))}")
        return caller

    return check


OpsCaller = Annotated[VerifiedToken, Depends(require_roles(OPS))]
StaffCaller = Annotated[VerifiedToken, Depends(require_roles(*STAFF_ROLES))]
CustomerCaller = Annotated[VerifiedToken, Depends(require_roles(CUSTOMER))]
