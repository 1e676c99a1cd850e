"""Who a WeChat login code belongs to: a pluggable provider.

The real exchange (`jscode2session` with the mini-program's app id and secret) is a network call to WeChat and is
plugged in through `create_app(identity_provider=...)`. Development and tests use the deterministic fake.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from services.common.errors import ServiceUnavailable


class IdentityProviderUnavailable(ServiceUnavailable):
    code = "IDENTITY_PROVIDER_UNAVAILABLE"
    title = "The identity provider is not available"


@dataclass(frozen=True, slots=True)
class Identity:
    sub: str
    roles: tuple[str, ...]


class IdentityProvider(Protocol):
    async def identify(self, code: str) -> Identity:
        """The user a one-time WeChat login code stands for. Raises a `DomainError` when it cannot tell."""
        ...


class FakeWeChatIdentityProvider:
    """The same code always gives the same customer, so demos and tests can log in again as the same user."""

    async def identify(self, code: str) -> Identity:
        return Identity(sub="wx_" + hashlib.sha256(code.encode()).hexdigest()[:16], roles=("customer",))


class NoIdentityProvider:
    """Used when no real provider is configured and the fake is not allowed."""

    async def identify(self, code: str) -> Identity:
        raise IdentityProviderUnavailable("WeChat login is not configured on this gateway")
