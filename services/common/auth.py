"""JWT bearer authentication and role checks.

The algorithm is pinned by settings (never taken from the token header); `exp`, `iat` and `sub` are required.
Routers declare `CurrentUser` or `Depends(require_roles(...))`; object-level checks live in the services.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.errors import Forbidden, Unauthorized

Role = Literal["customer", "leader", "manager", "ops", "service"]
KNOWN_ROLES: frozenset[str] = frozenset({"customer", "leader", "manager", "ops", "service"})


class InvalidToken(Unauthorized):
    code = "INVALID_TOKEN"
    title = "The bearer token is missing, malformed, expired or not ours"


class MissingRole(Forbidden):
    code = "MISSING_ROLE"
    title = "The caller lacks the role this action needs"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    sub: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def is_ops(self) -> bool:
        return "ops" in self.roles or "service" in self.roles


def issue_token(
    sub: str, roles: Iterable[str], *, secret: str, algorithm: str = "HS256", ttl_seconds: int = 3600
) -> str:
    now = int(time.time())
    claims = {"sub": sub, "roles": sorted(set(roles)), "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=algorithm)


def decode_token(token: str, *, secret: str, algorithm: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            options={"require": ["exp", "iat", "sub"]},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"Invalid token: {exc}") from exc
    sub = claims.get("sub")
    roles = claims.get("roles", [])
    if not isinstance(sub, str) or not sub or len(sub) > 64:
        raise InvalidToken("Claim 'sub' must be a non-empty string of at most 64 characters")
    if not isinstance(roles, list) or not all(isinstance(r, str) and r in KNOWN_ROLES for r in roles):
        raise InvalidToken("Claim 'roles' must be a list of known roles")
    return Principal(sub=sub, roles=frozenset(roles))


_bearer = HTTPBearer(auto_error=False, description="JWT from /api/v1/auth/dev-token or /api/v1/auth/wechat")


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken("A bearer token is required")
    settings = request.app.state.settings
    return decode_token(credentials.credentials, secret=settings.jwt_secret, algorithm=settings.jwt_algorithm)


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through callers holding any of `roles`."""

    async def check(user: CurrentUser) -> Principal:
        if not user.has(*roles):
            raise MissingRole(f"This action needs one of the roles: {', '.join(roles)}")
        return user

    return check


OpsUser = Annotated[Principal, Depends(require_roles("ops"))]
CustomerUser = Annotated[Principal, Depends(require_roles("customer"))]
LeaderUser = Annotated[Principal, Depends(require_roles("leader"))]
ServiceUser = Annotated[Principal, Depends(require_roles("service"))]


def service_token(*, source: str, secret: str, algorithm: str = "HS256", ttl_seconds: int = 300) -> str:
    """A short-lived token one service presents to another (role `service`, sub `<source>-service`)."""
    return issue_token(f"{source}-service", ["service"], secret=secret, algorithm=algorithm, ttl_seconds=ttl_seconds)


class ServiceTokens:
    """The one cache of a process's service token: reused until half its lifetime has passed, because signing a
    JWT per event or per call is wasted work. Call it for the token; `headers()` for the Authorization header."""

    def __init__(self, *, source: str, secret: str, algorithm: str = "HS256", ttl_seconds: int = 300) -> None:
        self._source = source
        self._secret = secret
        self._algorithm = algorithm
        self._ttl = ttl_seconds
        self._token = ""
        self._renew_at = 0.0

    def __call__(self) -> str:
        now = time.monotonic()
        if now >= self._renew_at:
            self._token = service_token(
                source=self._source, secret=self._secret, algorithm=self._algorithm, ttl_seconds=self._ttl
            )
            self._renew_at = now + self._ttl / 2
        return self._token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self()}"}
