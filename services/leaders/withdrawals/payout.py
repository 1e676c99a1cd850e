"""Paying leaders out: an interface, the fake the development setup and the tests use, and who the payee is.

`LEADERS_PAYOUT_PROVIDER=wechat` pays through WeChat Pay's transfer to the leader's balance
(`services.leaders.withdrawals.wechat`); `fake` pays at once, in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Protocol

from fastapi import Depends

from services.common.app import from_app_state
from services.common.openids import AccountsOpenIds, OpenIdUnavailable


class PayoutError(Exception):
    """The provider refused or failed to take the payout; nothing was paid (asking again is safe)."""


class PayoutState(StrEnum):
    PROCESSING = "processing"  # the provider took it and is paying
    WAITING_FOR_LEADER = "waiting_for_leader"  # WeChat: the leader confirms receipt in the mini-program
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # nothing was paid: the amount goes back to the leader's available commission


@dataclass(frozen=True, slots=True)
class PayoutResult:
    reference: str  # the provider's id of the payout
    state: PayoutState
    #: WAITING_FOR_LEADER: what the mini-program passes to `wx.requestMerchantTransfer`.
    package_info: str | None = None
    reason: str | None = None  # FAILED: why, as the provider says


class PayoutProvider(Protocol):
    async def pay(self, *, withdrawal_id: int, leader_id: str, amount_fen: int) -> PayoutResult:
        """Pay `amount_fen` to the leader; the result may still be in progress.

        `withdrawal_id` is the idempotency key: calling again for the same withdrawal must not pay twice (our
        transaction may fail after the provider paid, and approval is then retried).
        """
        ...

    async def query(self, *, withdrawal_id: int) -> PayoutResult:
        """Where the payout of this withdrawal is now (polled until it succeeds or fails)."""
        ...


@dataclass
class FakePayoutProvider:
    """Pays instantly and remembers what it paid, once per withdrawal; `fail_next` simulates an outage."""

    paid: dict[int, tuple[str, int]] = field(default_factory=dict)
    fail_next: bool = False

    async def pay(self, *, withdrawal_id: int, leader_id: str, amount_fen: int) -> PayoutResult:
        if self.fail_next:
            self.fail_next = False
            raise PayoutError("fake provider outage")
        self.paid.setdefault(withdrawal_id, (leader_id, amount_fen))
        return PayoutResult(f"fake-payout-{withdrawal_id}", PayoutState.SUCCEEDED)

    async def query(self, *, withdrawal_id: int) -> PayoutResult:
        if withdrawal_id not in self.paid:
            raise PayoutError("no such payout")
        return PayoutResult(f"fake-payout-{withdrawal_id}", PayoutState.SUCCEEDED)


class PayeeDirectory(Protocol):
    async def openid_of(self, user_id: str) -> str:
        """The leader's openid in our mini-program (whose WeChat balance receives the payout)."""
        ...


class HttpPayeeDirectory:
    """The leader's openid from accounts (`services.common.openids`), its failures as the payout's."""

    def __init__(self, openids: AccountsOpenIds) -> None:
        self._openids = openids

    async def openid_of(self, user_id: str) -> str:
        try:
            return await self._openids.openid_of(user_id)
        except OpenIdUnavailable as exc:
            raise PayoutError(f"no openid for the leader: {exc}") from None


#: The provider `create_app` chose (`LEADERS_PAYOUT_PROVIDER`), or the fake a test passed in.
PayoutDep = Annotated[PayoutProvider, Depends(from_app_state("payout_provider"))]
