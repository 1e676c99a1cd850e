"""Staff passwords, hashed with Argon2id (pwdlib). Hashing takes tens of milliseconds and most of a core's cache
on purpose, so it runs in a worker thread, never on the event loop."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

from fastapi import Depends
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

from services.common.app import from_app_state


class PasswordHasher:
    def __init__(self, hasher: Argon2Hasher | None = None) -> None:
        self._hash = PasswordHash((hasher or Argon2Hasher(),))
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hash.hash, password)

    async def verify(self, password: str, password_hash: str) -> bool:
        try:
            return await asyncio.to_thread(self._hash.verify, password, password_hash)
        except UnknownHashError:
            return False

    async def verify_nothing(self, password: str) -> None:
        """As much work as a real check, for an unknown username: the answer's timing must not tell them apart."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self.verify(password, self._dummy)


def fast_test_hasher() -> PasswordHasher:
    """Argon2id with the smallest cost, for tests (the algorithm and format are the real ones)."""
    return PasswordHasher(Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1))


#: The one `create_app` put on the app state (tests pass fakes to `create_app`).
PasswordsDep = Annotated[PasswordHasher, Depends(from_app_state("passwords"))]
