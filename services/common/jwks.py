"""Verifying the tokens the accounts service signs, with the public keys it publishes (JWKS).

Only accounts holds private keys; every other process builds one `KeySet` from the JWKS URL and calls
`await key_set.verify(token)`:

    keys = KeySet(jwks_fetcher("http://127.0.0.1:8004/.well-known/jwks.json"))
    token = await keys.verify(raw)                                   # public routes: aud "groupbuy"
    token = await keys.verify(raw, audience=INTERNAL_AUDIENCE)       # /internal routes: service identities

What is checked, whatever the token says about itself: the algorithm is pinned (EdDSA; `none`, HS256 and anything
else are refused before any key is looked at), the `kid` names a published key, the signature, `exp`, `iat`,
`sub`, `iss` and `aud` are present and right, the lifetime (`exp - iat`) is bounded, and the token is not larger
than a token we would issue. Keys are cached; an unknown `kid` triggers a refetch (at most every
`min_refetch_seconds`, so a flood of made-up kids cannot hammer accounts), which is how a rotated-in key is found.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from services.common.errors import ServiceUnavailable, Unauthorized

log = logging.getLogger("services.jwks")

ALGORITHM = "EdDSA"
DEFAULT_ISSUER = "groupbuy-accounts"
#: Tokens for people (customers, leaders, staff), accepted by public routes.
PUBLIC_AUDIENCE = "groupbuy"
#: Tokens of service identities, accepted only by `/internal/*` routes.
INTERNAL_AUDIENCE = "groupbuy-internal"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud")
JWKS_PATH = "/.well-known/jwks.json"
MAX_JWKS_BYTES = 64 * 1024

#: Returns the JWKS document (`{"keys": [...]}`); raises `JwksUnavailable` when it cannot.
JwksFetcher = Callable[[], Awaitable[Mapping[str, Any]]]


class InvalidToken(Unauthorized):
    """A token that is missing or fails any check (`services.common.auth` re-exports it)."""

    code = "INVALID_TOKEN"
    title = "The bearer token is missing, malformed, expired or not ours"


class JwksUnavailable(ServiceUnavailable):
    code = "JWKS_UNAVAILABLE"
    title = "The keys that verify tokens could not be fetched"


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """The claims of a token whose signature and validity were checked."""

    sub: str
    roles: frozenset[str]
    audience: str
    issued_at: int
    expires_at: int
    key_id: str
    session_id: str | None
    token_id: str | None
    claims: Mapping[str, Any]

    def has(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)


def jwks_fetcher(
    url: str,
    *,
    client: httpx.AsyncClient | None = None,
    timeout_seconds: float = 3.0,
    max_bytes: int = MAX_JWKS_BYTES,
) -> JwksFetcher:
    """A fetcher for an `http(s)://` URL (through `client`, or a client of its own) or a `file://` URL."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))

        async def read_file() -> Mapping[str, Any]:
            try:
                raw = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                raise JwksUnavailable(f"Cannot read the JWKS file {path}: {exc.strerror}") from exc
            return _document(raw, max_bytes, url)

        return read_file
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"A JWKS URL must be http://, https:// or file://, not {url!r}")
    clients = [client] if client is not None else []

    async def fetch() -> Mapping[str, Any]:
        if not clients:
            # Made on first use: building a client loads a TLS trust store, which a process that never fetches
            # (its keys come from a file, or a test's) should not pay for.
            clients.append(httpx.AsyncClient(timeout=timeout_seconds))
        try:
            response = await clients[0].get(url, timeout=timeout_seconds)
        except httpx.HTTPError as exc:
            raise JwksUnavailable(f"Cannot fetch {url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise JwksUnavailable(f"{url} answered HTTP {response.status_code}")
        return _document(response.content, max_bytes, url)

    return fetch


def _document(raw: bytes, max_bytes: int, where: str) -> Mapping[str, Any]:
    if len(raw) > max_bytes:
        raise JwksUnavailable(f"The JWKS from {where} is larger than {max_bytes} bytes")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise JwksUnavailable(f"The JWKS from {where} is not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksUnavailable(f"The JWKS from {where} has no `keys` list")
    return document


def parse_jwks(document: Mapping[str, Any]) -> dict[str, VerifyKey]:
    """The Ed25519 signing keys of a JWKS document by `kid`; keys of other types or uses are skipped.

    PyJWT reads each key (and refuses malformed ones); signatures are checked with libsodium (PyNaCl), which
    verifies an Ed25519 signature in about half the time OpenSSL takes: a token seen for the first time is
    verified on every service it reaches."""
    keys: dict[str, VerifyKey] = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519" or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", ALGORITHM) != ALGORITHM or "d" in entry:  # a private key has no business here
            continue
        try:
            public = jwt.PyJWK(entry, algorithm=ALGORITHM).key
            if not isinstance(public, Ed25519PublicKey):
                raise jwt.InvalidKeyError("not an Ed25519 public key")
            keys[kid] = VerifyKey(public.public_bytes_raw())
        except jwt.PyJWTError:
            log.warning("unusable key skipped in JWKS", extra={"kid": kid})
    return keys


def _numeric_date(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"Claim '{name}' must be a number")
    return int(value)


class KeySet:
    """The published verification keys, cached, and the one place a token is judged."""

    def __init__(
        self,
        fetch: JwksFetcher | str,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = PUBLIC_AUDIENCE,
        max_lifetime_seconds: int = 86400,
        leeway_seconds: int = 5,
        max_token_bytes: int = 4096,
        cache_seconds: float = 300.0,
        min_refetch_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = jwks_fetcher(fetch) if isinstance(fetch, str) else fetch
        self.issuer = issuer
        self.audience = audience
        self.max_lifetime_seconds = max_lifetime_seconds
        self.leeway_seconds = leeway_seconds
        self.max_token_bytes = max_token_bytes
        self.cache_seconds = cache_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._keys: dict[str, VerifyKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def key_ids(self) -> frozenset[str]:
        """The kids known now (from the last fetch)."""
        return frozenset(self._keys)

    async def refresh(self) -> None:
        """Fetch the document now. On failure the keys fetched before stay in use."""
        async with self._lock:
            await self._refetch()

    async def _refetch(self) -> None:
        self._fetched_at = self._monotonic()  # also on failure: a dead accounts must not be asked on every request
        document = await self._fetch()
        self._keys = parse_jwks(document)

    async def _key(self, kid: str) -> VerifyKey:
        stale = self._fetched_at is None or self._monotonic() - self._fetched_at >= self.cache_seconds
        if stale or kid not in self._keys:
            async with self._lock:
                # Decided again inside the lock: another request may have refetched while this one waited.
                fetched_at = self._fetched_at
                age = None if fetched_at is None else self._monotonic() - fetched_at
                wait = self.min_refetch_seconds if kid not in self._keys else self.cache_seconds
                if age is None or age >= wait:
                    try:
                        await self._refetch()
                    except JwksUnavailable:
                        if not self._keys:
                            raise
                        log.warning("JWKS refetch failed; using the keys fetched before", exc_info=True)
        key = self._keys.get(kid)
        if key is None:
            if not self._keys:
                raise JwksUnavailable("No verification keys are available yet")
            raise InvalidToken("The token was signed with a key we do not know")
        return key

    async def verify(self, token: str, *, audience: str | None = None, now: float | None = None) -> VerifiedToken:
        """The token's claims once everything checks out; `InvalidToken` (401) otherwise.

        Parsed here rather than by `jwt.decode`: the checks are the same (and PyJWT still signs), but a request that
        brings a token this process has not seen pays for one signature check and little else (bench/README.md).
        """
        if len(token) > self.max_token_bytes:
            raise InvalidToken("The token is too large")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("The token is malformed")
        header_part, payload_part, signature_part = parts
        header = _json_segment(header_part)
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"Tokens must be signed with {ALGORITHM}")
        if "crit" in header:
            raise InvalidToken("The token requires extensions we do not support")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 128:
            raise InvalidToken("The token names no key ('kid')")
        key = await self._key(kid)
        try:
            key.verify(f"{header_part}.{payload_part}".encode(), _segment(signature_part))
        except (BadSignatureError, ValueError):  # a wrong signature, or not 64 bytes long
            raise InvalidToken("Invalid token: Signature verification failed") from None
        claims = _json_segment(payload_part)
        expected_audience = audience or self.audience
        missing = [name for name in REQUIRED_CLAIMS if name not in claims]
        if missing:
            raise InvalidToken(f"Invalid token: the token lacks the claims {', '.join(missing)}")
        if claims["iss"] != self.issuer:
            raise InvalidToken("Invalid token: not issued by us")
        aud = claims["aud"]
        if not (aud == expected_audience or (isinstance(aud, list) and expected_audience in aud)):
            raise InvalidToken("Invalid token: meant for another audience")
        moment = self._clock() if now is None else now
        issued_at = _numeric_date(claims, "iat")
        expires_at = _numeric_date(claims, "exp")
        if expires_at <= moment - self.leeway_seconds:
            raise InvalidToken("The token has expired")
        if issued_at > moment + self.leeway_seconds:
            raise InvalidToken("The token was issued in the future")
        if "nbf" in claims and _numeric_date(claims, "nbf") > moment + self.leeway_seconds:
            raise InvalidToken("The token is not valid yet")
        if expires_at - issued_at > self.max_lifetime_seconds:
            raise InvalidToken("The token lives longer than any token we issue")
        return _verified(claims, kid, expected_audience, issued_at, expires_at)


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def _segment(part: str) -> bytes:
    """One base64url segment of a JWT, strictly: a character outside the alphabet is an error, not skipped."""
    try:
        raw = part.translate(_URLSAFE_TO_STANDARD).encode("ascii")
        return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4), strict_mode=True)
    except (UnicodeEncodeError, binascii.Error):
        raise InvalidToken("The token is malformed") from None


def _json_segment(part: str) -> dict[str, Any]:
    try:
        value = orjson.loads(_segment(part))
    except orjson.JSONDecodeError:
        raise InvalidToken("The token is malformed") from None
    if not isinstance(value, dict):
        raise InvalidToken("The token is malformed")
    return value


def _verified(claims: dict[str, Any], kid: str, audience: str, issued_at: int, expires_at: int) -> VerifiedToken:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 64:
        raise InvalidToken("Claim 'sub' must be a non-empty string of at most 64 characters")
    roles = claims.get("roles", [])
    well_formed = isinstance(roles, list) and len(roles) <= 16
    if not well_formed or not all(isinstance(r, str) and 0 < len(r) <= 32 for r in roles):
        raise InvalidToken("Claim 'roles' must be a short list of role names")
    sid = claims.get("sid")
    jti = claims.get("jti")
    return VerifiedToken(
        sub=sub,
        roles=frozenset(roles),
        audience=audience,
        issued_at=issued_at,
        expires_at=expires_at,
        key_id=kid,
        session_id=sid if isinstance(sid, str) else None,
        token_id=jti if isinstance(jti, str) else None,
        claims=claims,
    )
