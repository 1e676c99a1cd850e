"""The payment provider, seen from our side: signed notifications in, refunds out.

Notifications carry `X-Payment-Signature`: hex HMAC-SHA256 of the raw request body with `ORDERS_PAYMENT_SECRET`,
compared in constant time. Refunds go through `RefundProvider`; the refund sender job calls it with a key that is
unique per refund, so a retry after a crash never pays back twice (providers deduplicate on that key).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from typing import Protocol


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(body: bytes, signature: str | None, secret: str) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign(body, secret), signature.strip().lower())


class RefundProvider(Protocol):
    async def refund(self, *, transaction_id: str, amount_fen: int, refund_key: str) -> str:
        """Pay `amount_fen` back on the payment `transaction_id`; returns the provider's refund id."""
        ...


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

    async def refund(self, *, transaction_id: str, amount_fen: int, refund_key: str) -> str:
        if self.fail:
            raise RuntimeError("payment provider unavailable")
        for existing in self.refunds:
            if existing.refund_key == refund_key:
                return existing.refund_id
        recorded = RecordedRefund(uuid.uuid4().hex, transaction_id, amount_fen, refund_key)
        self.refunds.append(recorded)
        return recorded.refund_id
