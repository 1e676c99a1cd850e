"""Paying leaders out: an interface, the fake the development setup and the tests use, and who the payee is.

`LEADERS_PAYOUT_PROVIDER=wechat` pays through WeChat Pay's transfer to the leader's balance
(`services.leaders.withdrawals.wechat`); `fake` pays at once, in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote

import httpx


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
    """`GET {accounts_url}/internal/users/{user_id}/wechat-openid` → `{"openid": ...}` (the accounts service owns
    WeChat identities)."""

    def __init__(self, client: Callable[[], httpx.AsyncClient], headers: Callable[[], dict[str, str]], base_url: str):
        self._client = client
        self._headers = headers
        self._base_url = base_url.rstrip("/")

    async def openid_of(self, user_id: str) -> str:
        url = f"{self._base_url}/internal/users/{quote(user_id, safe='')}/wechat-openid"
        try:
            response = await self._client().get(url, headers=self._headers())
        except httpx.HTTPError as exc:
            raise PayoutError(f"the accounts service did not give the leader's openid ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise PayoutError(f"the accounts service answered {response.status_code} for the leader's openid")
        openid = response.json().get("openid")
        if not isinstance(openid, str) or not openid:
            raise PayoutError("the leader has no WeChat identity in this mini-program")
        return openid
