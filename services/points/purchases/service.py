"""Purchase points (credited when an order is picked up) and refunds (spent points given back, purchase points
reversed proportionally). Each effect is keyed by its order id or refund id, so a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import local_date
from services.common.events.contract import OrderPickedUp, OrderRefunded
from services.common.reconciliation import OrdersWithEffects, OrdersWithEffectsRequest
from services.points.holds import repository as holds_repository
from services.points.holds.service import return_spent_points
from services.points.ledger import service as ledger
from services.points.ledger.models import PointsEntryKind
from services.points.ledger.service import LedgerInconsistent
from services.points.purchases import repository
from services.points.purchases.exceptions import PurchaseNotCredited
from services.points.purchases.models import PurchaseAward, RefundApplied
from services.points.purchases.schemas import OrderReconciliation, ReconciliationRead
from services.points.rules.service import current_rules, lot_expiry, purchase_points


async def credit_purchase(session: AsyncSession, *, order: OrderPickedUp, now: datetime, tz: ZoneInfo) -> bool:
    """Credit purchase points on what was paid and not refunded. False if done before (the caller then knows the
    order's other effects, a referral it qualifies, were applied too)."""
    rules = await current_rules(session)
    base_fen = max(order.paid_fen - order.refunded_fen, 0)
    points = purchase_points(base_fen, rules)
    award = PurchaseAward(
        order_id=order.order_id,
        user_id=order.customer_id,
        base_fen=base_fen,
        points=points,
        points_per_yuan=rules.purchase_points_per_yuan,
        rules_version=rules.version,
        picked_up_at=order.picked_up_at,
        created_at=now,
    )
    if not await repository.insert_award(session, award):
        return False
    if points > 0:
        entry = await ledger.credit(
            session,
            user_id=order.customer_id,
            kind=PointsEntryKind.PURCHASE,
            ref=f"order:{order.order_id}",
            points=points,
            expires_on=lot_expiry(local_date(order.picked_up_at, tz), rules),
            now=now,
            details={
                "order_id": order.order_id,
                "base_fen": base_fen,
                "points_per_yuan": rules.purchase_points_per_yuan,
                "rules_version": rules.version,
            },
        )
        if entry is None:
            raise LedgerInconsistent(f"order {order.order_id} earned purchase points twice")
    return True


async def apply_refund(session: AsyncSession, *, refund: OrderRefunded, now: datetime, tz: ZoneInfo) -> bool:
    """Give back spent points and, after pickup, reverse purchase points. Never skipped: the balance may go
    negative (owed). False if this refund was applied before."""
    row = RefundApplied(
        refund_id=refund.refund_id,
        order_id=refund.order_id,
        user_id=refund.customer_id,
        refund_fen=refund.refund_fen,
        points_returned=refund.points_returned,
        picked_up=refund.picked_up,
        lines=[line.model_dump(mode="json") for line in refund.lines],
        created_at=now,
    )
    if not await repository.insert_refund(session, row):
        return False
    await return_spent_points(
        session, order_id=refund.order_id, refund_id=refund.refund_id, points=refund.points_returned, now=now, tz=tz
    )
    if refund.picked_up:
        row.purchase_points_reversed = await _reverse_purchase(session, refund=refund, now=now)
        session.add(row)
        await session.flush()
    return True


async def _reverse_purchase(session: AsyncSession, *, refund: OrderRefunded, now: datetime) -> int:
    award = await repository.get_award_for_update(session, refund.order_id)
    if award is None:
        # Events of one order arrive in order; raising makes the bus retry rather than lose the reversal.
        raise PurchaseNotCredited(f"Order {refund.order_id} has no purchase points yet")
    refunded = min(award.base_fen, award.refunded_fen + refund.refund_fen)
    # Rounded down on the running total: partial refunds never take more than their share, a full refund
    # takes back exactly what was credited.
    reversed_total = award.points * refunded // award.base_fen if award.base_fen else 0
    now_reversed = reversed_total - award.reversed_points
    if not await repository.record_reversal(
        session,
        order_id=award.order_id,
        expected_reversed=award.reversed_points,
        refunded_fen=refunded,
        reversed_points=reversed_total,
    ):
        raise LedgerInconsistent(f"purchase award of order {award.order_id} changed under its row lock")
    if now_reversed > 0:
        await ledger.debit(
            session,
            user_id=award.user_id,
            kind=PointsEntryKind.PURCHASE_REVERSAL,
            ref=f"refund:{refund.refund_id}",
            points=now_reversed,
            now=now,
            allow_negative=True,
            details={
                "order_id": award.order_id,
                "refund_fen": refund.refund_fen,
                "refunded_fen_total": refunded,
                "base_fen": award.base_fen,
                "credited_points": award.points,
            },
        )
    return now_reversed


async def reconcile(session: AsyncSession, *, order_ids: Sequence[int]) -> ReconciliationRead:
    """What this service did for each order, for the orders service to compare with what it sent."""
    unique_ids = sorted(set(order_ids))
    credits = {a.order_id: 1 for a in await repository.awards_of(session, unique_ids)}
    reversals: dict[int, dict[str, int]] = {}
    for r in await repository.refunds_of(session, unique_ids):
        if r.picked_up:
            reversals.setdefault(r.order_id, {})[str(r.refund_id)] = 1
    holds = {h.order_id: h.status for h in await holds_repository.get_holds(session, unique_ids)}
    return ReconciliationRead(
        orders={
            str(order_id): OrderReconciliation(
                purchase_credits=credits.get(order_id, 0),
                purchase_reversals=reversals.get(order_id, {}),
                hold=holds.get(order_id),
            )
            for order_id in unique_ids
        }
    )


async def orders_with_effects(session: AsyncSession, query: OrdersWithEffectsRequest) -> OrdersWithEffects:
    """The orders this service credited purchase points for or applied a refund of in the range, whatever the
    orders service says about them: reconciliation's receiving side, which finds points whose order does not
    justify them."""
    ids = await repository.orders_with_effects(
        session, since=query.since, until=query.until, after=query.after or 0, limit=query.limit
    )
    return OrdersWithEffects.page(ids, limit=query.limit)
