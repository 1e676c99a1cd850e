"""Helpers the tests of every service share: databases per test run, tokens, in-process clients.

Tokens: one Ed25519 key pair per test process stands in for the accounts service's key. Its private key is written
to `keys_dir_for_tests()` (give that to an accounts app, and the tokens it signs verify everywhere) and its public
JWKS to a file, `jwks_url_for_tests()`, that every app under test verifies with. `bearer(sub, roles)` signs a
person's token, `service_bearer(service)` a service identity's. (No helper here starts with `test`: pytest would
collect it from the test modules that import it.)
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import functools
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.auth import TokenVerifier
from services.common.db import Database
from services.common.jwks import ALGORITHM, DEFAULT_ISSUER, INTERNAL_AUDIENCE, PUBLIC_AUDIENCE, KeySet

TEST_KEY_FILE = "test-signing-key.pem"
#: Where the test key lives, handed down to child processes (benchmarks' load generators, crash drivers), so a
#: process started by a test signs and verifies with the same key.
TEST_KEYS_ENV = "GROUPBUY_TEST_KEYS_DIR"
#: When set (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres), the suite runs on PostgreSQL:
#: one database per service, created fresh for the run.
POSTGRES_ENV = "TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def prepare_database(service: str, tmp_dir: Path) -> str:
    """A fresh, empty database for `service` for this test run; returns its async URL."""
    admin = postgres_admin_url()
    if admin is None:
        return f"sqlite+aiosqlite:///{tmp_dir / (service + '.db')}"
    name = f"gb_test_{service}_{os.getpid()}"

    async def recreate() -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT", hide_parameters=True)
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    asyncio.run(recreate())
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    admin = postgres_admin_url()
    if admin is None:
        return
    name = make_url(url).database

    async def drop() -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT", hide_parameters=True)
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()

    asyncio.run(drop())


async def reset_database(db: Database) -> None:
    """Empty every table of the service (the schema stays, as the migrations made it)."""
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    async with db.engine.begin() as conn:
        if db.is_sqlite:
            # Append-only tables refuse DELETE by trigger (the audit trail): set the triggers aside while emptying.
            guards = (
                await conn.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%append_only%'")
                )
            ).all()
            for name, _sql in guards:
                await conn.execute(text(f'DROP TRIGGER "{name}"'))
            for name in tables:
                await conn.execute(text(f'DELETE FROM "{name}"'))  # noqa: S608 - names from our metadata
            for _name, sql in guards:
                await conn.execute(text(sql))
        else:
            # The audit trail refuses TRUNCATE by trigger: switched off for this transaction only (tests run as the
            # tables' owner; the services' runtime role should not be one).
            guards = (
                await conn.execute(
                    text(
                        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                        "WHERE t.tgname LIKE '%append_only%' AND NOT t.tgisinternal"
                    )
                )
            ).all()
            for table, trigger in guards:
                await conn.execute(text(f'ALTER TABLE "{table}" DISABLE TRIGGER "{trigger}"'))
            joined = ", ".join(f'"{n}"' for n in tables)
            await conn.execute(text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))
            for table, trigger in guards:
                await conn.execute(text(f'ALTER TABLE "{table}" ENABLE TRIGGER "{trigger}"'))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKeyForTests:
    private_key: Ed25519PrivateKey
    kid: str
    keys_dir: Path
    jwks_path: Path

    def jwk(self) -> dict[str, str]:
        raw = self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw), "kid": self.kid, "alg": ALGORITHM, "use": "sig"}


def _kid(private_key: Ed25519PrivateKey) -> str:
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())  # RFC 7638, as accounts names its keys


@functools.cache
def signing_key_for_tests() -> SigningKeyForTests:
    """The test signing key, its PEM in a directory of its own and its JWKS in a file: the one a parent process
    made (`GROUPBUY_TEST_KEYS_DIR`), or a new one, made once, that child processes then inherit."""
    inherited = os.environ.get(TEST_KEYS_ENV)
    if inherited and (Path(inherited) / "keys" / TEST_KEY_FILE).is_file():
        root = Path(inherited)
        loaded = serialization.load_pem_private_key((root / "keys" / TEST_KEY_FILE).read_bytes(), password=None)
        assert isinstance(loaded, Ed25519PrivateKey)
        return SigningKeyForTests(loaded, _kid(loaded), root / "keys", root / "jwks.json")
    private_key = Ed25519PrivateKey.generate()
    root = Path(tempfile.mkdtemp(prefix="gb-test-keys-"))
    atexit.register(shutil.rmtree, root, True)
    keys_dir = root / "keys"
    keys_dir.mkdir(mode=0o700)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = keys_dir / TEST_KEY_FILE
    key_file.write_bytes(pem)
    key_file.chmod(0o600)
    # Older than any activation delay, so an accounts app given this directory signs with it at once.
    os.utime(key_file, (time.time() - 86400, time.time() - 86400))
    key = SigningKeyForTests(private_key, _kid(private_key), keys_dir, root / "jwks.json")
    key.jwks_path.write_text(json.dumps({"keys": [key.jwk()]}))
    os.environ[TEST_KEYS_ENV] = str(root)
    return key


def keys_dir_for_tests() -> Path:
    """A key directory holding the test key, for `ACCOUNTS_SIGNING_KEYS_DIR`."""
    return signing_key_for_tests().keys_dir


def jwks_url_for_tests() -> str:
    """`file://` URL of the test key's JWKS, for `AUTH_JWKS_URL`."""
    return signing_key_for_tests().jwks_path.as_uri()


def sign_test_token(
    sub: str,
    roles: Iterable[str],
    *,
    audience: str = PUBLIC_AUDIENCE,
    ttl_seconds: int = 3600,
    issued_at: float | None = None,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A token as accounts would sign it, with the test key (any claim can be overridden, for refusal tests)."""
    key = signing_key_for_tests()
    now = int(time.time() if issued_at is None else issued_at)
    payload: dict[str, Any] = {
        "sub": sub,
        "roles": sorted(set(roles)),
        "iat": now,
        "exp": now + ttl_seconds,
        "iss": DEFAULT_ISSUER,
        "aud": audience,
        "jti": os.urandom(9).hex(),
    }
    payload.update(claims)
    return jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, **(headers or {})})


def bearer(sub: str, roles: Iterable[str]) -> dict[str, str]:
    """The Authorization header of a person (customer, leader, staff) with these roles."""
    return {"Authorization": f"Bearer {sign_test_token(sub, roles)}"}


def service_token(service: str) -> str:
    # As long as a person's test token: tests keep headers made at import time, and a run on PostgreSQL outlasts
    # accounts' real five minutes.
    return sign_test_token(f"svc:{service}", ["service"], audience=INTERNAL_AUDIENCE)


def service_bearer(service: str) -> dict[str, str]:
    """The Authorization header of a service identity (`svc:<service>`), for `/internal/*` calls."""
    return {"Authorization": f"Bearer {service_token(service)}"}


class StaticServiceTokens:
    """A `TokenSource` signing the service's token with the test key, where no accounts app runs."""

    def __init__(self, service: str) -> None:
        self.service = service

    async def token(self) -> str:
        return service_token(self.service)

    async def aclose(self) -> None:
        return None


def asgi_client(app: FastAPI, base_url: str = "http://testserver") -> httpx.AsyncClient:
    # raise_app_exceptions=False: a 500 must reach the test as the problem response a caller would get.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=base_url)


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on now (for servers that tests and benchmarks start as processes).

    Never the same port twice in one process: the kernel may offer a port again once it is released, and two
    servers told the same port would leave one of them answering for both.
    """
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def bad_authorizations() -> dict[str, str]:
    """Authorization header values every process must refuse with 401 `INVALID_TOKEN`, by what is wrong with them
    (the zoo the gateway and each service are tested against)."""
    now = int(time.time())
    good = sign_test_token("u1", ["customer"])
    header, payload, signature = good.split(".")
    tampered_payload = _b64url(
        json.dumps(
            {**json.loads(base64.urlsafe_b64decode(payload + "==")), "roles": ["ops"]}, separators=(",", ":")
        ).encode()
    )
    public_key = signing_key_for_tests().private_key.public_key()
    public_pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = {"sub": "u1", "roles": ["customer"], "iat": now, "exp": now + 600, "iss": DEFAULT_ISSUER}
    claims["aud"] = PUBLIC_AUDIENCE
    # HS256 keyed with the public key: the classic algorithm confusion a verifier must not fall for.
    hs256 = _hs256(claims, public_pem, kid=signing_key_for_tests().kid)
    none_header = _b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": signing_key_for_tests().kid}).encode())
    unsigned = f"{none_header}.{_b64url(json.dumps(claims).encode())}."
    other_key = Ed25519PrivateKey.generate()
    tokens = {
        "expired": sign_test_token("u1", ["customer"], issued_at=now - 7200, ttl_seconds=600),
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "wrong kid": sign_test_token("u1", ["customer"], headers={"kid": "not-a-published-key"}),
        "signed by another key": jwt.encode(
            claims, other_key, algorithm=ALGORITHM, headers={"kid": signing_key_for_tests().kid}
        ),
        "HS256": hs256,
        "alg none": unsigned,
        "oversized": sign_test_token("u1", ["customer"], padding="x" * 5000),
        "service identity": service_token("orders"),
        "lives too long": sign_test_token("u1", ["customer"], ttl_seconds=30 * 86400),
        "exp not a number": sign_test_token("u1", ["customer"], exp=str(now + 600)),
        "other issuer": sign_test_token("u1", ["customer"], iss="someone-else"),
        "other audience": sign_test_token("u1", ["customer"], aud="another-api"),
        "service role in a public token": sign_test_token("svc:orders", ["service"]),
        "no sub": sign_test_token("", ["customer"]),
        "garbage": "not.a.token",
    }
    values = {name: f"Bearer {token}" for name, token in tokens.items()}
    values["basic scheme"] = "Basic dTE6cHc="
    return values


def _hs256(claims: dict[str, Any], key: bytes, *, kid: str) -> str:
    # PyJWT refuses a PEM key for HMAC, as it should; an attacker builds the token by hand.
    import hmac

    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def verifier_for_tests() -> TokenVerifier:
    """A verifier trusting the test key, for apps built by hand in tests (`app.state.token_verifier`)."""
    return TokenVerifier(KeySet(jwks_url_for_tests()))
