"""The daily reconciliation: the provider's trade and refund bills of one business day, line by line against our
payments and refunds. Every difference is reported (missing on either side, amount mismatch); nothing is changed,
because what to do about one (refund, chase, book) is a finance decision."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.common.db import Database
from services.orders.payment_provider import BillLine, PaymentProvider, ProviderError
from services.orders.payments import repository
from services.orders.payments.exceptions import ReconciliationFailed
from services.orders.payments.models import PaymentReconciliation, ReconciliationStatus
from services.orders.payments.schemas import ReconciliationRead

log = logging.getLogger("services.orders.payments")


def compare(
    bill: Literal["trade", "refund"], ours: Iterable[BillLine], theirs: Iterable[BillLine]
) -> list[dict[str, Any]]:
    """The differences between our lines and the provider's, keyed by our reference (out_trade_no, out_refund_no)."""
    our_lines = {line.reference: line for line in ours}
    their_lines = {line.reference: line for line in theirs}
    differences: list[dict[str, Any]] = []
    for reference in sorted(our_lines.keys() | their_lines.keys()):
        mine, theirs_ = our_lines.get(reference), their_lines.get(reference)
        if mine is not None and theirs_ is not None and mine.amount_fen == theirs_.amount_fen:
            continue
        kind = "amount_mismatch" if mine and theirs_ else "missing_on_our_side" if theirs_ else "missing_at_provider"
        either = theirs_ or mine
        assert either is not None
        differences.append(
            {
                "bill": bill,
                "kind": kind,
                "reference": reference,
                "provider_id": either.provider_id or None,
                "our_fen": mine.amount_fen if mine else None,
                "provider_fen": theirs_.amount_fen if theirs_ else None,
            }
        )
    return differences


def day_bounds(bill_date: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(bill_date, time(0), tzinfo=tz)
    return start, start + timedelta(days=1)


async def reconcile(
    db: Database, provider: PaymentProvider, *, bill_date: date, tz: ZoneInfo, now: datetime
) -> ReconciliationRead:
    """Fetch the day's bills (outside any transaction), compare, and store the report (replacing an earlier one)."""
    try:
        trade_bill = await provider.bill(bill_date, "trade")
        refund_bill = await provider.bill(bill_date, "refund")
    except ProviderError as exc:
        log.warning(
            "could not fetch the provider's bills", extra={"bill_date": bill_date.isoformat(), "error": str(exc)}
        )
        raise ReconciliationFailed(str(exc)) from None
    start, end = day_bounds(bill_date, tz)
    async with db.transaction() as session:
        payments = await repository.provider_payments_between(session, start=start, end=end)
        refunds = await repository.refunds_succeeded_between(session, start=start, end=end)
        ours_paid = [
            BillLine(out_trade_no or f"order {payment.order_id}", payment.transaction_id, payment.amount_fen)
            for payment, out_trade_no in payments
        ]
        ours_refunded = [BillLine(r.out_refund_no, r.provider_refund_id or "", r.amount_fen) for r in refunds]
        differences = compare("trade", ours_paid, trade_bill) + compare("refund", ours_refunded, refund_bill)
        report = await repository.save_reconciliation(
            session,
            PaymentReconciliation(
                bill_date=bill_date,
                status=ReconciliationStatus.DIFFERENCES if differences else ReconciliationStatus.MATCHED,
                provider=provider.name,
                trade_lines=len(trade_bill),
                refund_lines=len(refund_bill),
                our_payments=len(ours_paid),
                our_refunds=len(ours_refunded),
                differences=differences,
                created_at=now,
            ),
        )
        read = ReconciliationRead.model_validate(report)
    if differences:
        log.warning(
            "the provider's bills differ from our payments",
            extra={"bill_date": bill_date.isoformat(), "differences": len(differences)},
        )
    return read
