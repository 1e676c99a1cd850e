"""Signing access tokens: the only place in the platform that holds a private key."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import jwt
from fastapi import Depends

from services.accounts.keys.exceptions import SigningKeysUnavailable
from services.accounts.keys.store import SigningKey, SigningKeyError, SigningKeyStore
from services.common.app import from_app_state
from services.common.jwks import ALGORITHM

log = logging.getLogger("services.accounts.keys")


@dataclass(frozen=True, slots=True)
class SignedToken:
    token: str
    expires_in: int
    kid: str
    jti: str


class TokenIssuer:
    def __init__(self, store: SigningKeyStore, *, issuer: str) -> None:
        self.store = store
        self.issuer = issuer

    def sign(
        self,
        *,
        sub: str,
        roles: Iterable[str],
        audience: str,
        ttl_seconds: int,
        now: datetime,
        session_id: str | None = None,
    ) -> SignedToken:
        key = self._signing_key(now)
        issued_at = int(now.timestamp())
        jti = secrets.token_urlsafe(12)
        claims: dict[str, Any] = {
            "sub": sub,
            "roles": sorted(set(roles)),
            "iat": issued_at,
            "exp": issued_at + ttl_seconds,
            "iss": self.issuer,
            "aud": audience,
            "jti": jti,
        }
        if session_id is not None:
            claims["sid"] = session_id
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        return SignedToken(token=token, expires_in=ttl_seconds, kid=key.kid, jti=jti)

    def _signing_key(self, now: datetime) -> SigningKey:
        try:
            return self.store.signing_key(now)
        except SigningKeyError:
            # The directory is named in the log, not in the answer to the caller.
            log.exception("no usable signing key")
            raise SigningKeysUnavailable() from None

    def jwks(self, now: datetime) -> dict[str, Any]:
        try:
            return self.store.jwks(now)
        except SigningKeyError:
            log.exception("no usable signing key")
            raise SigningKeysUnavailable() from None


#: The one `create_app` put on the app state (tests pass fakes to `create_app`).
IssuerDep = Annotated[TokenIssuer, Depends(from_app_state("issuer"))]
