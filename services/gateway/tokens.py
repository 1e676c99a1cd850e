"""The gateway's check of bearer tokens: a request that carries a bad token never reaches a service.

Every routed request with an `Authorization` header is checked as the services check it (same keys, same rules,
the same 401 problem), before a byte is forwarded. The services check again: the gateway is a first line, not the
only one. A header that passed is remembered, by its exact bytes, until its token expires, so a caller's next
requests cost one dict lookup here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from services.common.auth import principal_of
from services.common.errors import DomainError, problem_bytes
from services.common.jwks import PUBLIC_AUDIENCE, InvalidToken, KeySet


class TokenCheck:
    def __init__(self, keys: KeySet, *, max_entries: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self._max_entries = max_entries
        self._clock = clock
        #: Authorization header value -> `exp` and `sub` of its token.
        self._passed: dict[bytes, tuple[int, str]] = {}

    async def refusal(self, authorization: bytes) -> tuple[int, bytes] | None:
        """None when the header carries a valid public token; else the status and problem body to answer with."""
        refused = await self.check(authorization)
        return refused if isinstance(refused, tuple) else None

    async def check(self, authorization: bytes) -> str | tuple[int, bytes]:
        """The token's verified `sub` when the header carries a valid public token; else the status and problem
        body to answer with."""
        passed = self._passed.get(authorization)
        now = self._clock()
        if passed is not None and now < passed[0]:
            return passed[1]
        try:
            scheme, _, credentials = authorization.decode("latin-1").partition(" ")
            token = credentials.strip()
            if scheme.lower() != "bearer" or not token:
                raise InvalidToken("A bearer token is required")
            verified = await self.keys.verify(token, audience=PUBLIC_AUDIENCE, now=now)
            principal = principal_of(verified)  # the same role rules as the services: no service identity here
        except DomainError as refused:
            return refused.status, problem_bytes(refused.status, refused.code, refused.title, refused.detail)
        if self._max_entries:
            self._remember(authorization, verified.expires_at, principal.sub)
        return principal.sub

    def _remember(self, authorization: bytes, expires_at: int, subject: str) -> None:
        passed = self._passed
        passed.pop(authorization, None)  # an expired entry of this header: re-inserted as the newest
        if len(passed) >= self._max_entries:
            del passed[next(iter(passed))]  # the oldest; one per new token, never a scan of the whole cache
        passed[authorization] = (expires_at, subject)
