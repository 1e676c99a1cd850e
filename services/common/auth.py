"""JWT bearer authentication and role checks.

The algorithm is pinned by settings (never taken from the token header); `exp`, `iat` and `sub` are required.
`authenticate(headers, roles)` is the one check; routers declare `CurrentUser` or `Depends(require_roles(...))`,
dependencies over it; object-level checks live in the services.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Protocol

import jwt
from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from services.common.errors import Forbidden, Unauthorized
from services.common.permissions import STAFF_ROLES, Permission, permissions_of


class Role(StrEnum):
    CUSTOMER = "customer"
    LEADER = "leader"
    OPS = "ops"
    SERVICE = "service"


#: Customer, leader and service roles, and every staff duty (`services.common.permissions.StaffRole`).
KNOWN_ROLES: frozenset[str] = frozenset(Role) | STAFF_ROLES


class InvalidToken(Unauthorized):
    code = "INVALID_TOKEN"
    title = "The bearer token is missing, malformed, expired or not ours"


class MissingRole(Forbidden):
    code = "MISSING_ROLE"
    title = "The caller lacks the role this action needs"


class MissingPermission(Forbidden):
    code = "MISSING_PERMISSION"
    title = "The caller's staff duties do not include this action"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    sub: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def is_leader_of(self, leader_id: str) -> bool:
        """The caller is this leader (a leader's id is their user id)."""
        return self.sub == leader_id and "leader" in self.roles

    @property
    def is_ops(self) -> bool:
        return "ops" in self.roles or "service" in self.roles

    def can(self, permission: Permission) -> bool:
        """The caller's staff duties include `permission` (`ops` includes every one)."""
        return permission in permissions_of(self.roles)


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


class TokenSettings(Protocol):
    jwt_secret: str
    jwt_algorithm: str


def authenticate(headers: Mapping[str, str], roles: Iterable[str], *, settings: TokenSettings) -> Principal:
    """The caller of a request from its `Authorization: Bearer <jwt>` header (`headers` as Starlette's, or any
    mapping with lower-case names), holding any of `roles` (no roles: anyone signed in)."""
    scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        raise InvalidToken("A bearer token is required")
    principal = decode_token(credentials, secret=settings.jwt_secret, algorithm=settings.jwt_algorithm)
    roles = tuple(roles)
    if roles and not principal.has(*roles):
        raise MissingRole(f"This action needs one of the roles: {', '.join(roles)}")
    return principal


#: How the OpenAPI document describes the bearer token (one scheme named `HTTPBearer` for every operation).
BEARER_SCHEME = HTTPBearerModel(description="JWT from /api/v1/auth/dev-token or /api/v1/auth/wechat")
BEARER_SCHEME_NAME = "HTTPBearer"


class BearerAuth(SecurityBase):
    """A route dependency: `authenticate` for the request. A security scheme itself, so the operation is documented
    as needing the bearer token without a second dependency that would parse the header again."""

    def __init__(self, roles: Iterable[str] = (), permission: Permission | None = None) -> None:
        self.model = BEARER_SCHEME
        self.scheme_name = BEARER_SCHEME_NAME
        self.roles = tuple(roles)
        self.permission = permission

    async def __call__(self, request: Request) -> Principal:
        settings: Any = request.app.state.settings
        principal = authenticate(request.headers, self.roles, settings=settings)
        if self.permission is not None and not principal.can(self.permission):
            raise MissingPermission(f"This action needs the staff permission {self.permission.value!r}")
        return principal


current_user = BearerAuth()
CurrentUser = Annotated[Principal, Depends(current_user)]


def require_roles(*roles: Role) -> BearerAuth:
    """A dependency that lets through callers holding any of `roles`."""
    return BearerAuth(roles)


def require_permission(permission: Permission) -> BearerAuth:
    """A dependency for a staff route: lets through callers whose duties include `permission`
    (`services.common.permissions`); the route's `responses` should document `MissingPermission`. A router declares
    an alias per duty it needs: `CatalogueStaff = Annotated[Principal, Depends(require_permission(...))]`."""
    return BearerAuth(permission=permission)


OpsUser = Annotated[Principal, Depends(require_roles(Role.OPS))]
CustomerUser = Annotated[Principal, Depends(require_roles(Role.CUSTOMER))]
LeaderUser = Annotated[Principal, Depends(require_roles(Role.LEADER))]
ServiceUser = Annotated[Principal, Depends(require_roles(Role.SERVICE))]


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
