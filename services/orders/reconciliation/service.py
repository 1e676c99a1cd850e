"""Reconciliation: did every order event have exactly its effects in the leaders and points services?

The orders service is the source of truth for what happened to an order. For each order paid (or cancelled with
held points) in a time range it derives the effects the consumers must have applied, asks each consumer what it
applied (`/internal/reconciliation/...`, counts keyed by the same references), and reports each difference:
`lost` (never applied), `duplicated` (applied more than once), `mismatch` (in another state), or `in_flight` (its
event is still in the outbox, so not a loss yet). With a `ReceivingSide` (`receiving.py`) it also walks the
consumers' books: the orders they credited in the range are checked too, and an effect whose order does not exist or
is not in a state that justifies it is `orphaned` (a forged event's commission). The ops route and the command both
walk them.
Run it from ops (`POST /api/v1/reconciliation`) or as a command:

    groupbuy reconcile --from 2026-12-01T00:00:00+08:00 --to 2026-12-02T00:00:00+08:00
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.orders.models import Order, OrderLine, Refund, RefundLine
from services.orders.reconciliation import repository
from services.orders.reconciliation.receiving import ReceivingSide
from services.orders.reconciliation.schemas import Difference, DifferenceKind, OrderEffectsReport

#: The consumers accept at most this many order ids per question.
CHUNK = 500


class EffectsSource(Protocol):
    """What the consumers applied, per order id (their `/internal/reconciliation/*` answers, `orders` field)."""

    async def commission_effects(self, order_ids: Sequence[int]) -> dict[str, Any]: ...

    async def points_effects(self, order_ids: Sequence[int]) -> dict[str, Any]: ...


class _Checker:
    def __init__(self) -> None:
        self.differences: list[Difference] = []
        self.effects = 0

    def count(self, order_id: int, service: str, effect: str, ref: str, found: int, *, in_flight: bool) -> None:
        """Exactly one application is expected."""
        self.effects += 1
        if found == 1:
            return
        if found > 1:
            kind = DifferenceKind.DUPLICATED
        else:
            kind = DifferenceKind.IN_FLIGHT if in_flight else DifferenceKind.LOST
        self._add(order_id, service, effect, ref, "1", str(found), kind)

    def state(
        self, order_id: int, service: str, effect: str, ref: str, expected: str, found: str | None, *, in_flight: bool
    ) -> None:
        self.effects += 1
        if found == expected:
            return
        if in_flight:
            kind = DifferenceKind.IN_FLIGHT
        else:
            kind = DifferenceKind.LOST if found is None else DifferenceKind.MISMATCH
        self._add(order_id, service, effect, ref, expected, str(found), kind)

    def orphan(self, order_id: int, service: str, effect: str, ref: str, found: int) -> None:
        """An effect that nothing on the orders side justifies: none was expected (counted only when found)."""
        if found > 0:
            self.effects += 1
            self._add(order_id, service, effect, ref, "0", str(found), DifferenceKind.ORPHANED)

    def _add(
        self, order_id: int, service: str, effect: str, ref: str, expected: str, found: str, kind: DifferenceKind
    ) -> None:
        self.differences.append(
            Difference.model_validate(
                {
                    "order_id": order_id,
                    "service": service,
                    "effect": effect,
                    "ref": ref,
                    "expected": expected,
                    "found": found,
                    "kind": kind,
                }
            )
        )


async def reconcile(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    effects: EffectsSource,
    receiving: ReceivingSide | None = None,
) -> OrderEffectsReport:
    orders = list(await repository.orders_in_range(session, since=since, until=until))
    missing: list[int] = []
    if receiving is not None:
        credited: set[int] = set().union(*(await receiving.orders_with_effects(since=since, until=until)).values())
        extra = sorted(credited - {o.id for o in orders})
        for start in range(0, len(extra), CHUNK):
            orders.extend(await repository.orders_by_id(session, extra[start : start + CHUNK]))
        orders.sort(key=lambda o: o.id or 0)
        missing = sorted(set(extra) - {o.id for o in orders})
    order_ids = [o.id for o in orders if o.id is not None] + missing
    lines: dict[int, list[OrderLine]] = defaultdict(list)
    refunds: dict[int, list[Refund]] = defaultdict(list)
    refund_lines: dict[int, list[RefundLine]] = defaultdict(list)
    commission: dict[str, Any] = {}
    points: dict[str, Any] = {}
    for start in range(0, len(order_ids), CHUNK):
        chunk = order_ids[start : start + CHUNK]
        for line in await repository.lines_of(session, chunk):
            lines[line.order_id].append(line)
        chunk_refunds = await repository.refunds_of(session, chunk)
        for refund in chunk_refunds:
            refunds[refund.order_id].append(refund)
        for refund_line in await repository.refund_lines_of(session, [r.id for r in chunk_refunds if r.id]):
            refund_lines[refund_line.refund_id].append(refund_line)
        commission.update(await effects.commission_effects(chunk))
        points.update(await effects.points_effects(chunk))
    in_flight = await repository.aggregates_in_flight(session)

    checker = _Checker()
    for order in orders:
        assert order.id is not None
        _check_order(
            checker,
            order,
            lines[order.id],
            refunds[order.id],
            refund_lines,
            commission.get(str(order.id)) or {},
            points.get(str(order.id)) or {},
            in_flight=f"order:{order.id}" in in_flight,
        )
    for order_id in missing:
        # No such order: everything the consumers hold for it is orphaned.
        found_commission = commission.get(str(order_id)) or {}
        _check_sources(checker, order_id, None, [], [], {}, found_commission, points.get(str(order_id)) or {})
    kinds = [d.kind for d in checker.differences]
    return OrderEffectsReport(
        since=since,
        until=until,
        orders_checked=len(orders),
        effects_checked=checker.effects,
        lost=kinds.count(DifferenceKind.LOST),
        duplicated=kinds.count(DifferenceKind.DUPLICATED),
        mismatched=kinds.count(DifferenceKind.MISMATCH),
        in_flight=kinds.count(DifferenceKind.IN_FLIGHT),
        orphaned=kinds.count(DifferenceKind.ORPHANED),
        differences=checker.differences,
    )


def _check_order(
    checker: _Checker,
    order: Order,
    lines: list[OrderLine],
    refunds: list[Refund],
    refund_lines: dict[int, list[RefundLine]],
    commission: dict[str, Any],
    points: dict[str, Any],
    *,
    in_flight: bool,
) -> None:
    assert order.id is not None
    oid = order.id
    _check_sources(checker, oid, order, lines, refunds, refund_lines, commission, points)
    if order.paid_at is None:
        # Cancelled before payment with points held: the hold must have been released. (An unpaid order checked
        # because a consumer credited it expects nothing else; what it was credited is orphaned, above.)
        if order.cancelled_at is not None and order.points_used > 0:
            checker.state(oid, "points", "hold", "order", "released", points.get("hold"), in_flight=in_flight)
        return
    accruals: dict[str, int] = commission.get("accruals") or {}
    reversals: dict[str, int] = commission.get("reversals") or {}
    for line in lines:
        checker.count(oid, "leaders", "accrual", f"line:{line.id}", accruals.get(str(line.id), 0), in_flight=in_flight)
    for refund in refunds:
        for refund_line in refund_lines[refund.id or 0]:
            ref = f"{refund.id}:{refund_line.line_id}"
            checker.count(oid, "leaders", "reversal", ref, reversals.get(ref, 0), in_flight=in_flight)
    if order.points_used > 0:
        checker.state(oid, "points", "hold", "order", "committed", points.get("hold"), in_flight=in_flight)
    if order.picked_up_at is not None:
        credits = int(points.get("purchase_credits") or 0)
        checker.count(oid, "points", "purchase_points", "order", credits, in_flight=in_flight)
        purchase_reversals: dict[str, int] = points.get("purchase_reversals") or {}
        for refund in refunds:
            if refund.after_pickup:
                found = purchase_reversals.get(str(refund.id), 0)
                checker.count(oid, "points", "purchase_reversal", f"refund:{refund.id}", found, in_flight=in_flight)


def _check_sources(
    checker: _Checker,
    order_id: int,
    order: Order | None,
    lines: list[OrderLine],
    refunds: list[Refund],
    refund_lines: dict[int, list[RefundLine]],
    commission: dict[str, Any],
    points: dict[str, Any],
) -> None:
    """Every effect the consumers hold must have its source here: an accrual a line of a paid order, a reversal a
    refunded line, purchase points a picked-up order, their reversal a refund after pickup. The others are
    orphaned (`order` None: the order does not exist)."""
    paid = order is not None and order.paid_at is not None
    picked_up = order is not None and order.picked_up_at is not None
    line_ids = {str(line.id) for line in lines} if paid else set()
    refunded = {f"{r.id}:{rl.line_id}" for r in refunds for rl in refund_lines[r.id or 0]} if paid else set()
    after_pickup = {str(r.id) for r in refunds if r.after_pickup} if picked_up else set()
    accruals: dict[str, int] = commission.get("accruals") or {}
    for line_id, found in sorted(accruals.items()):
        if line_id not in line_ids:
            checker.orphan(order_id, "leaders", "accrual", f"line:{line_id}", found)
    reversals: dict[str, int] = commission.get("reversals") or {}
    for ref, found in sorted(reversals.items()):
        if ref not in refunded:
            checker.orphan(order_id, "leaders", "reversal", ref, found)
    if not picked_up:
        checker.orphan(order_id, "points", "purchase_points", "order", int(points.get("purchase_credits") or 0))
    purchase_reversals: dict[str, int] = points.get("purchase_reversals") or {}
    for refund_id, found in sorted(purchase_reversals.items()):
        if refund_id not in after_pickup:
            checker.orphan(order_id, "points", "purchase_reversal", f"refund:{refund_id}", found)
