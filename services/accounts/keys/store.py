"""The signing keys: Ed25519 private keys, one PEM file each, in one directory (`ACCOUNTS_SIGNING_KEYS_DIR`).

- Every key in the directory is published in the JWKS, so tokens signed by any of them verify.
- The key whose file name sorts last signs, once its file is `activation_seconds` old: verifiers fetch the JWKS when
  they meet an unknown `kid` only every few seconds, so a new key is published a while before it signs. When no key
  is that old (the first start), the newest signs at once.
- Rotation: add a newer file (say `20250601.pem`); remove an old one once the tokens it signed have expired (the
  longest token lifetime: dev tokens, one hour by default). The directory is looked at again whenever a key is
  needed, so neither needs a restart.
- Development keys are generated on first start (never in production) and named `dev-<UTC time>.pem`; production
  refuses to start while any `dev-` key is in the directory. The `dev-` prefix is ignored when ordering.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DEV_PREFIX = "dev-"
KEY_SUFFIX = ".pem"


class SigningKeyError(RuntimeError):
    """The key directory cannot give a signing key; the message names the setting and the file."""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(private_key: Ed25519PrivateKey) -> dict[str, str]:
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members in lexicographic order, without whitespace, base64url."""
    required = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


@dataclass(frozen=True)
class SigningKey:
    name: str
    kid: str
    private_key: Ed25519PrivateKey = field(repr=False)
    added_at: float  # the file's mtime, seconds since the epoch
    development: bool

    @property
    def order(self) -> str:
        return self.name.removeprefix(DEV_PREFIX)

    def jwk(self) -> dict[str, str]:
        return {**public_jwk(self.private_key), "kid": self.kid, "alg": "EdDSA", "use": "sig"}


def load_key(path: Path) -> SigningKey:
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"ACCOUNTS_SIGNING_KEYS_DIR: {path.name} is not an unencrypted PEM private key") from exc
    if not isinstance(private_key, Ed25519PrivateKey):
        raise SigningKeyError(f"ACCOUNTS_SIGNING_KEYS_DIR: {path.name} is not an Ed25519 key")
    return SigningKey(
        name=path.name,
        kid=thumbprint(public_jwk(private_key)),
        private_key=private_key,
        added_at=path.stat().st_mtime,
        development=path.name.startswith(DEV_PREFIX),
    )


def write_key(directory: Path, name: str, private_key: Ed25519PrivateKey | None = None) -> Path:
    """Write a key file readable by its owner only (for development keys and tests; production brings its own)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = private_key or Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return path


def development_key_name(now: datetime) -> str:
    return f"{DEV_PREFIX}{now.astimezone(UTC):%Y%m%dT%H%M%SZ}{KEY_SUFFIX}"


@contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    # Two processes starting together (accounts and its relay, or two workers) must not each generate a key.
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # private keys: the owner only
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class SigningKeyStore:
    """The keys of one directory, re-read when the directory changes."""

    def __init__(self, directory: Path, *, allow_generate: bool, activation_seconds: float = 60.0) -> None:
        self.directory = directory
        self.allow_generate = allow_generate
        self.activation_seconds = activation_seconds
        self._keys: list[SigningKey] = []
        self._stamp: int | None = None

    def keys(self, now: datetime) -> list[SigningKey]:
        """Every key, oldest first; generates a development key when there is none and that is allowed."""
        self._reload()
        if not self._keys and self.allow_generate:
            with _directory_lock(self.directory):
                self._reload()
                if not self._keys:
                    write_key(self.directory, development_key_name(now))
                    self._reload()
        if not self._keys:
            raise SigningKeyError(f"ACCOUNTS_SIGNING_KEYS_DIR: no *{KEY_SUFFIX} key in {self.directory}")
        return self._keys

    def signing_key(self, now: datetime) -> SigningKey:
        keys = self.keys(now)
        active = [k for k in keys if now.timestamp() - k.added_at >= self.activation_seconds]
        return (active or keys)[-1]

    def jwks(self, now: datetime) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.keys(now)]}

    def _reload(self) -> None:
        # The listing itself is the stamp: a directory's mtime can miss two changes within one clock tick.
        try:
            entries = sorted(
                (entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
                for entry in os.scandir(self.directory)
                if entry.name.endswith(KEY_SUFFIX) and entry.is_file()
            )
        except FileNotFoundError:
            entries = []
        stamp = hash(tuple(entries))
        if stamp == self._stamp:
            return
        keys = [load_key(self.directory / name) for name, _, _ in entries]
        self._keys = sorted(keys, key=lambda k: k.order)
        self._stamp = stamp
