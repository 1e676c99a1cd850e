"""Paying leaders out: an interface, and the fake the development setup and the tests use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class PayoutError(Exception):
    """The provider refused or failed; nothing was paid."""


class PayoutProvider(Protocol):
    async def pay(self, *, withdrawal_id: int, leader_id: str, amount_fen: int) -> str:
        """Pay `amount_fen` to the leader and return the provider's reference.

        `withdrawal_id` is the idempotency key: calling again for the same withdrawal must not pay twice (our
        transaction may fail after the provider paid, and approval is then retried).
        """
        ...


@dataclass
class FakePayoutProvider:
    """Pays instantly and remembers what it paid, once per withdrawal; `fail_next` simulates an outage."""

    paid: dict[int, tuple[str, int]] = field(default_factory=dict)
    fail_next: bool = False

    async def pay(self, *, withdrawal_id: int, leader_id: str, amount_fen: int) -> str:
        if self.fail_next:
            self.fail_next = False
            raise PayoutError("fake provider outage")
        self.paid.setdefault(withdrawal_id, (leader_id, amount_fen))
        return f"fake-payout-{withdrawal_id}"
