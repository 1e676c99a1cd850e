"""Service identities: each service proves itself with its client secret and gets a short-lived token
(`sub` `svc:<service>`, role `service`, audience `groupbuy-internal`), good for `/internal/*` routes only."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from services.accounts.config import secret_hash
from services.accounts.keys.issuer import TokenIssuer
from services.accounts.roles import SERVICE
from services.accounts.service_identity.exceptions import ServiceCredentialsInvalid
from services.accounts.sessions.schemas import AccessToken
from services.common.clock import utcnow
from services.common.jwks import INTERNAL_AUDIENCE

#: Compared against when the service is unknown, so the answer takes as long as for a known one.
_NO_CLIENT = "0" * 64


def service_subject(service: str) -> str:
    return f"svc:{service}"


def issue_service_token(
    *,
    issuer: TokenIssuer,
    clients: Mapping[str, str],
    service: str,
    secret: str,
    now: datetime,
    ttl_seconds: int,
) -> AccessToken:
    expected = clients.get(service)
    # As bytes: compare_digest raises on str holding anything but ASCII.
    matches = hmac.compare_digest(secret_hash(secret).encode(), (expected or _NO_CLIENT).encode())
    if expected is None or not matches:
        raise ServiceCredentialsInvalid()
    token = issuer.sign(
        sub=service_subject(service), roles=[SERVICE], audience=INTERNAL_AUDIENCE, ttl_seconds=ttl_seconds, now=now
    )
    return AccessToken(access_token=token.token, expires_in=token.expires_in)


class OwnServiceToken:
    """Accounts' own service token (for the export calls), signed locally and reused for half its lifetime."""

    def __init__(
        self,
        issuer: TokenIssuer,
        *,
        ttl_seconds: int,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._ttl = ttl_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._token = ""
        self._renew_at = 0.0

    async def token(self) -> str:
        """The `TokenSource` interface (`services.common.auth`): accounts' own relay presents this token too."""
        return self()

    async def aclose(self) -> None:
        return None

    def __call__(self) -> str:
        if self._monotonic() >= self._renew_at:
            signed = self._issuer.sign(
                sub=service_subject("accounts"),
                roles=[SERVICE],
                audience=INTERNAL_AUDIENCE,
                ttl_seconds=self._ttl,
                now=self._clock(),
            )
            self._token = signed.token
            self._renew_at = self._monotonic() + self._ttl / 2
        return self._token
