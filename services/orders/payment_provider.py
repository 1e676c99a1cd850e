"""The payment provider, seen from our side: orders opened with it, signed notifications in, refunds out, bills.

`PaymentProvider` is what the payments code uses; `create_app` picks the implementation from
`ORDERS_PAYMENT_PROVIDER`: `FakePaymentProvider` (development and tests: in memory, every call succeeds unless told
otherwise) or `WeChatPayProvider` (`services.orders.wechatpay`, WeChat Pay API v3).

The fake's notifications are the development format: `X-Payment-Signature` is the hex HMAC-SHA256 of the raw body
with `ORDERS_PAYMENT_SECRET`, compared in constant time. Refunds are asked with a key unique per refund, so a retry
after a crash never pays back twice (providers deduplicate on that key).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, Protocol

from services.common.openids import AccountsOpenIds, OpenIdUnavailable


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(body: bytes, signature: str | None, secret: str) -> bool:
    if not signature:
        return False
    # As bytes: compare_digest refuses str holding anything but ASCII (a TypeError, a 500), and a header is
    # whatever bytes the caller sent.
    return hmac.compare_digest(sign(body, secret).encode(), signature.strip().lower().encode())


class ProviderError(Exception):
    """The provider could not be asked or refused; the message names no secret and may be shown to staff."""


class NotificationRejected(Exception):
    """A notification that is not from the provider (signature, key serial, age, encryption)."""


class TradeState(StrEnum):
    """The provider's state of one of our orders (WeChat's `trade_state`, and NOT_FOUND when it has none)."""

    SUCCESS = "SUCCESS"
    REFUND = "REFUND"  # paid, then (partly) refunded
    NOTPAY = "NOTPAY"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    USERPAYING = "USERPAYING"
    PAYERROR = "PAYERROR"
    NOT_FOUND = "NOT_FOUND"

    @property
    def paid(self) -> bool:
        return self in (TradeState.SUCCESS, TradeState.REFUND)

    @property
    def never_paid(self) -> bool:
        """The customer did not pay and cannot pay it any more without us opening it again."""
        return self in (TradeState.NOTPAY, TradeState.CLOSED, TradeState.REVOKED, TradeState.PAYERROR,
                        TradeState.NOT_FOUND)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Trade:
    state: TradeState
    transaction_id: str | None = None
    amount_fen: int | None = None
    paid_at: datetime | None = None


class RefundState(StrEnum):
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    ABNORMAL = "ABNORMAL"  # the customer's account cannot take it (card cancelled...): staff must act
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class RefundReceipt:
    refund_id: str
    state: RefundState
    succeeded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    """A verified notification that an order was paid."""

    notification_id: str
    event_type: str
    out_trade_no: str
    trade_state: str
    transaction_id: str
    amount_fen: int
    paid_at: datetime | None


@dataclass(frozen=True, slots=True)
class RefundNotice:
    """A verified notification of a refund's outcome."""

    notification_id: str
    event_type: str
    out_refund_no: str
    refund_id: str
    state: RefundState
    amount_fen: int
    succeeded_at: datetime | None


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line of the provider's daily bill: a payment (`reference` = out_trade_no) or a refund (out_refund_no)."""

    reference: str
    provider_id: str  # the provider's transaction id or refund id
    amount_fen: int


@dataclass(frozen=True, slots=True)
class JsapiParameters:
    """What the mini-program passes to `wx.requestPayment` (names as WeChat spells them)."""

    appId: str
    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


class RefundProvider(Protocol):
    async def refund(self, *, transaction_id: str, amount_fen: int, total_fen: int, refund_key: str) -> RefundReceipt:
        """Pay `amount_fen` back on the payment `transaction_id` (of `total_fen`), once per `refund_key`."""
        ...

    async def query_refund(self, refund_key: str) -> RefundReceipt: ...


class PaymentProvider(RefundProvider, Protocol):
    name: str

    async def create_prepay(
        self, *, out_trade_no: str, description: str, amount_fen: int, payer_openid: str, expires_at: datetime
    ) -> str:
        """Open our order with the provider; returns its prepay id. Asking again with the same values gives the same
        order (the provider deduplicates by `out_trade_no`)."""
        ...

    def jsapi_parameters(self, prepay_id: str) -> JsapiParameters: ...

    async def query_trade(self, out_trade_no: str) -> Trade: ...

    async def close_trade(self, out_trade_no: str) -> None:
        """Close an unpaid order so it can no longer be paid (closing a closed one is fine)."""
        ...

    def open_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> PaymentNotice | RefundNotice | None:
        """Verify and decrypt a notification (`NotificationRejected` if it is not the provider's); None for an event
        type we do not act on."""
        ...

    async def bill(self, bill_date: date, kind: Literal["trade", "refund"]) -> list[BillLine]:
        """The provider's successful payments (or refunds) of one business day."""
        ...


class PayerDirectory(Protocol):
    async def openid_of(self, user_id: str) -> str:
        """The customer's openid in our mini-program (who WeChat lets pay)."""
        ...


@dataclass
class DevPayers:
    """Development openids derived from the user id: enough for the fake provider, never for WeChat."""

    async def openid_of(self, user_id: str) -> str:
        return f"dev-openid-{user_id}"


@dataclass(frozen=True, slots=True)
class RecordedRefund:
    refund_id: str
    transaction_id: str
    amount_fen: int
    refund_key: str


@dataclass
class FakeRefundProvider:
    """Records refunds in memory, idempotent per `refund_key` like a real provider. Development and tests only."""

    refunds: list[RecordedRefund] = field(default_factory=list)
    fail: bool = False

    async def refund(
        self, *, transaction_id: str, amount_fen: int, refund_key: str, total_fen: int | None = None
    ) -> RefundReceipt:
        if self.fail:
            raise ProviderError("payment provider unavailable")
        for existing in self.refunds:
            if existing.refund_key == refund_key:
                return RefundReceipt(existing.refund_id, RefundState.SUCCESS)
        recorded = RecordedRefund(uuid.uuid4().hex, transaction_id, amount_fen, refund_key)
        self.refunds.append(recorded)
        return RefundReceipt(recorded.refund_id, RefundState.SUCCESS)

    async def query_refund(self, refund_key: str) -> RefundReceipt:
        for existing in self.refunds:
            if existing.refund_key == refund_key:
                return RefundReceipt(existing.refund_id, RefundState.SUCCESS)
        raise ProviderError("no such refund")


@dataclass
class FakeTrade:
    out_trade_no: str
    prepay_id: str
    amount_fen: int
    state: TradeState = TradeState.NOTPAY
    transaction_id: str | None = None
    paid_at: datetime | None = None


@dataclass
class FakePaymentProvider(FakeRefundProvider):
    """The development provider: prepays, queries, closes and bills from memory. `pay(out_trade_no)` plays a
    customer paying without a notification reaching us (as when WeChat's is lost)."""

    name: str = "fake"
    trades: dict[str, FakeTrade] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)

    async def create_prepay(
        self, *, out_trade_no: str, description: str, amount_fen: int, payer_openid: str, expires_at: datetime
    ) -> str:
        if self.fail:
            raise ProviderError("payment provider unavailable")
        trade = self.trades.get(out_trade_no)
        if trade is None:
            trade = self.trades[out_trade_no] = FakeTrade(out_trade_no, f"fake-prepay-{uuid.uuid4().hex}", amount_fen)
        return trade.prepay_id

    def jsapi_parameters(self, prepay_id: str) -> JsapiParameters:
        return JsapiParameters("dev-appid", "0", "dev", f"prepay_id={prepay_id}", "RSA", "fake-signature")

    def pay(self, out_trade_no: str, *, at: datetime) -> str:
        trade = self.trades[out_trade_no]
        trade.state, trade.transaction_id, trade.paid_at = TradeState.SUCCESS, f"fake-tx-{uuid.uuid4().hex}", at
        return trade.transaction_id

    async def query_trade(self, out_trade_no: str) -> Trade:
        if self.fail:
            raise ProviderError("payment provider unavailable")
        trade = self.trades.get(out_trade_no)
        if trade is None:
            return Trade(TradeState.NOT_FOUND)
        return Trade(trade.state, trade.transaction_id, trade.amount_fen, trade.paid_at)

    async def close_trade(self, out_trade_no: str) -> None:
        if self.fail:
            raise ProviderError("payment provider unavailable")
        trade = self.trades.get(out_trade_no)
        if trade is not None and trade.state == TradeState.NOTPAY:
            trade.state = TradeState.CLOSED
        self.closed.append(out_trade_no)

    def open_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> PaymentNotice | RefundNotice | None:
        raise NotificationRejected("the development provider sends no WeChat notifications")

    async def bill(self, bill_date: date, kind: Literal["trade", "refund"]) -> list[BillLine]:
        if kind == "refund":
            return [BillLine(r.refund_key, r.refund_id, r.amount_fen) for r in self.refunds]
        return [
            BillLine(t.out_trade_no, t.transaction_id or "", t.amount_fen)
            for t in self.trades.values()
            if t.state.paid and t.paid_at is not None and t.paid_at.date() == bill_date
        ]


class HttpPayerDirectory:
    """The payer's openid from accounts (`services.common.openids`), its failures as the provider's."""

    def __init__(self, openids: AccountsOpenIds) -> None:
        self._openids = openids

    async def openid_of(self, user_id: str) -> str:
        try:
            return await self._openids.openid_of(user_id)
        except OpenIdUnavailable as exc:
            raise ProviderError(f"no openid for the payer: {exc}") from None
