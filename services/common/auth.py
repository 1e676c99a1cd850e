"""Bearer authentication, roles and staff permissions, and this process's own service identity.

Only the accounts service signs tokens (EdDSA, keys published as JWKS); every process verifies them with a
`TokenVerifier` on `app.state.token_verifier`, so no service can mint a token. Two kinds of callers:

- people (customers, leaders, staff): audience `groupbuy`, accepted by public routes only;
- services (`sub` `svc:<name>`, role `service`): audience `groupbuy-internal`, accepted by `/internal/*` routes only.
  A service identity never counts as staff: it holds no permission.

Routers declare who may call (dependencies over `authenticate`):
- `require_permission(Permission.X)`: a staff route. Staff get, on that route, only the permissions it names.
- `require_roles(Role.CUSTOMER)` / `CustomerUser` / `LeaderUser`: people by role.
- `CurrentUser`: anyone signed in, each acting on their own objects. Staff act on other people's objects only on
  routes that name the permission they use: `signed_in(Permission.ORDERS_READ)`; inside, `user.can(...)` is true
  only for permissions the route names (a route that names none gives staff nothing beyond a customer's rights).
- `require_service("accounts")` / `ServiceUser`: service identities, on `/internal/*` routes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Protocol

import httpx
from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase

from services.common.errors import Forbidden, ServiceUnavailable
from services.common.jwks import (
    INTERNAL_AUDIENCE,
    PUBLIC_AUDIENCE,
    InvalidToken,
    KeySet,
    VerifiedToken,
    jwks_fetcher,
)
from services.common.permissions import STAFF_ROLES, Permission, permissions_of

__all__ = [
    "BEARER_SCHEME_NAME",
    "BearerAuth",
    "CurrentUser",
    "CustomerUser",
    "InvalidToken",
    "LeaderUser",
    "MissingPermission",
    "MissingRole",
    "Principal",
    "Role",
    "ServiceNotAllowed",
    "ServiceTokens",
    "ServiceUser",
    "TokenVerifier",
    "authenticate",
    "require_permission",
    "require_roles",
    "require_service",
    "signed_in",
]

log = logging.getLogger("services.auth")

SERVICE_SUBJECT_PREFIX = "svc:"


class Role(StrEnum):
    CUSTOMER = "customer"
    LEADER = "leader"
    OPS = "ops"
    SERVICE = "service"


#: The roles a person's token may carry: customer, leader and every staff duty (`services.common.permissions`).
PERSON_ROLES: frozenset[str] = frozenset({Role.CUSTOMER, Role.LEADER}) | STAFF_ROLES


class MissingRole(Forbidden):
    code = "MISSING_ROLE"
    title = "The caller lacks the role this action needs"


class MissingPermission(Forbidden):
    code = "MISSING_PERMISSION"
    title = "The caller's staff duties do not include this action"


class ServiceNotAllowed(Forbidden):
    code = "SERVICE_NOT_ALLOWED"
    title = "This service may not call this endpoint"


class ServiceIdentityUnavailable(ServiceUnavailable):
    code = "SERVICE_IDENTITY_UNAVAILABLE"
    title = "This service could not obtain its own token from the accounts service"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller.

    `permissions` is what the caller may do as staff on the route at hand: the permissions of their roles that the
    route names (`BearerAuth` fills it). None, for a principal made outside a route (tests, jobs), means every
    permission of the roles.
    """

    sub: str
    roles: frozenset[str]
    permissions: frozenset[Permission] | None = None
    #: The sign-in session the token belongs to (`sid`), for signing out.
    session_id: str | None = None

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def is_leader_of(self, leader_id: str) -> bool:
        """The caller is this leader (a leader's id is their user id)."""
        return self.sub == leader_id and "leader" in self.roles

    def can(self, permission: Permission) -> bool:
        """The caller's staff duties include `permission` on this route (`ops` includes every one)."""
        granted = self.permissions if self.permissions is not None else permissions_of(self.roles)
        return permission in granted

    @property
    def service(self) -> str | None:
        """The service's name for a service identity (`svc:orders` -> `orders`), None for a person."""
        if "service" in self.roles and self.sub.startswith(SERVICE_SUBJECT_PREFIX):
            return self.sub.removeprefix(SERVICE_SUBJECT_PREFIX)
        return None

    def scoped(self, allowed: frozenset[Permission]) -> Principal:
        """The same caller holding, as staff, only the `allowed` permissions of their roles."""
        if not (self.roles & STAFF_ROLES):
            return self  # customers, leaders and services hold no permission anyway: nothing to narrow
        return dataclasses.replace(self, permissions=permissions_of(self.roles) & allowed)


def principal_of(token: VerifiedToken) -> Principal:
    """The caller a verified token stands for, refusing role sets that do not fit its audience."""
    if token.audience == INTERNAL_AUDIENCE:
        if token.roles != {"service"} or not token.sub.startswith(SERVICE_SUBJECT_PREFIX):
            raise InvalidToken("An internal token must be a service identity")
    elif not token.roles <= PERSON_ROLES:
        # `service` included: a service identity is never good for a public route, whatever its audience says.
        raise InvalidToken("Claim 'roles' must name only person roles")
    return Principal(sub=token.sub, roles=token.roles, session_id=token.session_id)


class TokenVerifier:
    """Verifies bearer tokens with the published keys, and remembers tokens it verified until they expire.

    Verifying an Ed25519 signature costs about a hundred microseconds, and a caller sends the same token with every
    request for its whole lifetime; the cache makes a repeated token one dict lookup. It is keyed by the exact token
    string and an entry never outlives the token's `exp`. Bounded: when it is full the oldest entry goes, one per new
    token (tokens live equally long, so the oldest is about the first to expire), never a scan of the whole cache.
    """

    def __init__(self, keys: KeySet, *, max_entries: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self._max_entries = max_entries
        self._clock = clock
        self._cache: dict[str, tuple[Principal, str, int]] = {}

    async def verify(self, token: str, audience: str = PUBLIC_AUDIENCE) -> Principal:
        hit = self._cache.get(token)
        now = self._clock()
        if hit is not None and hit[1] == audience and now < hit[2]:
            return hit[0]
        verified = await self.keys.verify(token, audience=audience, now=now)
        principal = principal_of(verified)
        cache = self._cache
        cache.pop(token, None)  # an expired entry of this token: re-inserted below, as the newest
        if len(cache) >= self._max_entries:
            del cache[next(iter(cache))]  # dicts keep insertion order: the oldest entry
        cache[token] = (principal, audience, verified.expires_at)
        return principal

    def forget(self) -> None:
        """Drop every remembered token (tests; a key withdrawn in an emergency)."""
        self._cache.clear()


def key_set_for(url: str, *, issuer: str, max_lifetime_seconds: int, client: httpx.AsyncClient | None = None) -> KeySet:
    """The `KeySet` every process builds from the shared settings (`AUTH_JWKS_URL`, `AUTH_TOKEN_ISSUER`, ...)."""
    return KeySet(jwks_fetcher(url, client=client), issuer=issuer, max_lifetime_seconds=max_lifetime_seconds)


async def authenticate(
    headers: Mapping[str, str], *, verifier: TokenVerifier, audience: str = PUBLIC_AUDIENCE
) -> Principal:
    """The caller of a request from its `Authorization: Bearer <jwt>` header (`headers` as Starlette's, or any
    mapping with lower-case names). The one check every route dependency goes through."""
    scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        raise InvalidToken("A bearer token is required")
    return await verifier.verify(credentials, audience)


#: How the OpenAPI document describes the bearer token (one scheme named `HTTPBearer` for every operation).
BEARER_SCHEME = HTTPBearerModel(
    description="Access token from POST /api/v1/auth/wechat, /api/v1/auth/staff or /api/v1/auth/refresh"
)
BEARER_SCHEME_NAME = "HTTPBearer"


class BearerAuth(SecurityBase):
    """A route dependency: `authenticate` for the request, then the route's own rule. A security scheme itself, so
    the operation is documented as needing the bearer token without a second dependency that parses the header."""

    def __init__(
        self,
        roles: Iterable[str] = (),
        *,
        permission: Permission | None = None,
        staff: Iterable[Permission] = (),
        services: Iterable[str] = (),
        internal: bool = False,
    ) -> None:
        self.model = BEARER_SCHEME
        self.scheme_name = BEARER_SCHEME_NAME
        self.roles = tuple(roles)
        if set(self.roles) & STAFF_ROLES:
            raise ValueError("Staff routes name a permission (require_permission), not a staff role")
        self.permission = permission
        self.staff = frozenset(staff)
        self.allowed = self.staff | ({permission} if permission is not None else set())
        self.services = frozenset(services)
        self.internal = internal or bool(self.services)
        self.audience = INTERNAL_AUDIENCE if self.internal else PUBLIC_AUDIENCE

    async def __call__(self, request: Request) -> Principal:
        verifier: TokenVerifier = request.app.state.token_verifier
        principal = await authenticate(request.headers, verifier=verifier, audience=self.audience)
        scoped = self.admit(principal)
        _caller.set(scoped)
        return scoped

    def admit(self, principal: Principal) -> Principal:
        """The route's rule for an authenticated caller: the caller as the route sees them, or the refusal."""
        if self.roles and not principal.has(*self.roles):
            raise MissingRole(f"This action needs one of the roles: {', '.join(self.roles)}")
        if self.services and principal.service not in self.services:
            raise ServiceNotAllowed(f"Only {', '.join(sorted(self.services))} may call this endpoint")
        if self.permission is not None and not principal.can(self.permission):
            raise MissingPermission(f"This action needs the staff permission {self.permission.value!r}")
        return principal.scoped(self.allowed)

    def openapi_extension(self) -> dict[str, Any]:
        """What the operation's OpenAPI entry says about its callers (`x-permission`, `x-staff-permissions`, ...)."""
        if self.internal:
            return {"x-service-identity": sorted(self.services) or True}
        extension: dict[str, Any] = {}
        if self.permission is not None:
            extension["x-permission"] = self.permission.value
        if self.staff:
            extension["x-staff-permissions"] = sorted(p.value for p in self.staff)
        if self.roles:
            extension["x-roles"] = list(self.roles)
        if not extension:
            extension["x-signed-in"] = True
        return extension


#: The caller of the request being served, set by `BearerAuth`: the audit trail names the duties a staff member
#: acted with where a service function was handed only their id (`services.common.audit`).
_caller: ContextVar[Principal | None] = ContextVar("caller", default=None)


def current_caller() -> Principal | None:
    """Who called the request being served (None outside a request or before authentication)."""
    return _caller.get()


def signed_in(*staff: Permission) -> BearerAuth:
    """Anyone signed in, acting on their own objects; staff holding one of `staff` may also act on other people's
    objects as far as the service's object checks (`user.can(...)`) allow."""
    return BearerAuth(staff=staff)


current_user = BearerAuth()
CurrentUser = Annotated[Principal, Depends(current_user)]


def require_roles(*roles: Role) -> BearerAuth:
    """A dependency that lets through people holding any of `roles` (customer, leader; never a staff role)."""
    return BearerAuth(roles)


def require_permission(permission: Permission, *also: Permission) -> BearerAuth:
    """A dependency for a staff route: lets through callers whose duties include `permission`. On the route they
    hold only `permission` and `also` (for object-level checks). A router declares an alias per duty it needs:
    `CatalogueStaff = Annotated[Principal, Depends(require_permission(Permission.CATALOGUE_MANAGE))]`."""
    return BearerAuth(permission=permission, staff=also)


def require_service(*services: str) -> BearerAuth:
    """A dependency for an `/internal/*` route: a service identity, and with `services`, only those services."""
    return BearerAuth(services=services, internal=True)


CustomerUser = Annotated[Principal, Depends(require_roles(Role.CUSTOMER))]
LeaderUser = Annotated[Principal, Depends(require_roles(Role.LEADER))]
ServiceUser = Annotated[Principal, Depends(require_service())]


def bearer_auth_of(route: APIRoute) -> BearerAuth | None:
    """The `BearerAuth` that rules a route (directly or through its dependencies), if any.

    A route may depend on several: an Idempotency-Key dependency authenticates the caller with a plain
    `CurrentUser`, next to the route's own `require_permission(...)`. Every one must pass, so the rule is the most
    specific of them (one naming a permission, staff permissions or roles), never the plain sign-in.
    """
    found: list[BearerAuth] = []
    pending = [route.dependant]
    while pending:
        dependant = pending.pop(0)  # breadth first: the route's own dependencies before those they depend on
        if isinstance(dependant.call, BearerAuth):
            found.append(dependant.call)
        pending.extend(dependant.dependencies)
    if not found:
        return None

    def specificity(auth: BearerAuth) -> int:
        return (
            int(auth.internal) * 8 + int(auth.permission is not None) * 4 + int(bool(auth.staff)) * 2 + bool(auth.roles)
        )

    return max(found, key=specificity)


def _declared_api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """The APIRoutes as routers declared them, through included routers (FastAPI includes them lazily, copying
    each route's settings, `openapi_extra` among them, the first time it is used)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from _declared_api_routes(router.routes)


def document_callers(routes: Iterable[Any]) -> None:
    """Write each operation's caller rule into its OpenAPI entry (`BearerAuth.openapi_extension`), before the app
    serves anything."""
    for route in _declared_api_routes(routes):
        if (auth := bearer_auth_of(route)) is not None:
            route.openapi_extra = {**(route.openapi_extra or {}), **auth.openapi_extension()}


class TokenSource(Protocol):
    """Where a process gets the token it presents to other services (`ServiceTokens`; tests sign their own)."""

    async def token(self) -> str: ...

    async def aclose(self) -> None: ...


class ServiceTokens:
    """This process's own service token, from accounts (`POST /internal/service-tokens` with the client secret),
    reused until half its lifetime has passed: one call to accounts every few minutes, not one per event."""

    def __init__(
        self,
        *,
        service: str,
        secret: str,
        accounts_url: str,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self._secret = secret
        self._url = accounts_url.rstrip("/") + "/internal/service-tokens"
        self._client = client
        self._owns_client = client is None
        self._timeout = timeout_seconds
        self._monotonic = monotonic
        self._token = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Any, service: str, *, client: httpx.AsyncClient | None = None) -> ServiceTokens:
        return cls(
            service=service, secret=settings.client_secret(), accounts_url=settings.auth_accounts_url, client=client
        )

    async def token(self) -> str:
        if self._monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if self._monotonic() >= self._renew_at:  # another caller may have renewed it while this one waited
                await self._renew()
        return self._token

    async def _renew(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await self._client.post(
                self._url, json={"service": self.service, "secret": self._secret}, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            log.warning("accounts unreachable for the service token", extra={"error": type(exc).__name__})
            raise ServiceIdentityUnavailable(f"Cannot reach {self._url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            # 401 means this service's secret is not the one accounts knows (`<SERVICE>_SERVICE_SECRET`).
            raise ServiceIdentityUnavailable(f"{self._url} answered HTTP {response.status_code}")
        body = response.json()
        self._token = str(body["access_token"])
        self._renew_at = self._monotonic() + int(body["expires_in"]) / 2

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
