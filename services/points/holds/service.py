"""Points spent on orders: held when the order is created, spent when it is paid, released when it is cancelled
or never paid, given back when lines are refunded.

The order id is the hold's key: the same request again returns the same hold, another request for the same order
is a conflict. The discount is computed here, from the rules in force, and kept on the hold.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import local_date
from services.points.holds import repository
from services.points.holds.exceptions import (
    HoldAlreadyCommitted,
    HoldConflict,
    HoldNotFound,
    PointsNotUsable,
    PointsOverCap,
    PointsReturnExceedsSpent,
)
from services.points.holds.models import Hold, HoldLot, HoldStatus
from services.points.holds.schemas import HoldList, HoldRead
from services.points.ledger import service as ledger
from services.points.ledger.models import PointsEntryKind
from services.points.ledger.service import LedgerInconsistent, LotTake
from services.points.rules.schemas import Rules
from services.points.rules.service import current_rules, lot_expiry

log = logging.getLogger("services.points.holds")


def order_ref(order_id: int) -> str:
    return f"order:{order_id}"


def discount_for(points: int, goods_fen: int, rules: Rules) -> int:
    """Fen the points are worth on an order of `goods_fen`, or a 422 saying why they cannot be used."""
    worth = points * 100
    if worth % rules.deduction_points_per_yuan:
        raise PointsNotUsable(
            f"{points} points are not a whole number of fen at {rules.deduction_points_per_yuan} points per yuan"
        )
    discount = worth // rules.deduction_points_per_yuan
    cap_fen = goods_fen * rules.deduction_max_ratio_bp // 10_000
    if discount > cap_fen:
        raise PointsOverCap(
            f"{points} points are worth {discount} fen; at most {cap_fen} fen of this order may be paid with points",
            max_discount_fen=cap_fen,
        )
    return discount


def _same_request(hold: Hold, *, user_id: str, points: int, goods_fen: int) -> HoldRead:
    if hold.user_id != user_id or hold.points != points or hold.goods_fen != goods_fen:
        raise HoldConflict(f"Order {hold.order_id} already holds {hold.points} points of another request")
    return HoldRead.model_validate(hold)


async def place_hold(
    session: AsyncSession,
    *,
    order_id: int,
    user_id: str,
    points: int,
    goods_fen: int,
    now: datetime,
    tz: ZoneInfo,
    ttl_seconds: int,
) -> HoldRead:
    existing = await repository.get_hold(session, order_id)
    if existing is not None:
        return _same_request(existing, user_id=user_id, points=points, goods_fen=goods_fen)
    rules = await current_rules(session)
    discount = discount_for(points, goods_fen, rules)
    hold = Hold(
        order_id=order_id,
        user_id=user_id,
        points=points,
        goods_fen=goods_fen,
        discount_fen=discount,
        rules_version=rules.version,
        status=HoldStatus.HELD,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    if not await repository.insert_hold(session, hold):
        # A parallel request for the same order won; it is committed now, so answer as a retry would.
        raced = await repository.get_hold(session, order_id)
        assert raced is not None
        return _same_request(raced, user_id=user_id, points=points, goods_fen=goods_fen)
    # Expired points must not be spent: expire them first, so the guard sees the true balance.
    await ledger.expire_due_lots_of_user(session, user_id=user_id, today=local_date(now, tz), now=now)
    moved = await ledger.move_to_held(
        session,
        user_id=user_id,
        ref=order_ref(order_id),
        points=points,
        now=now,
        details={"discount_fen": discount, "goods_fen": goods_fen, "rules_version": rules.version},
    )
    if moved is None:
        raise LedgerInconsistent(f"order {order_id} has a hold entry but had no hold row")
    _, takes = moved
    await repository.insert_hold_lots(
        session, [HoldLot(order_id=order_id, lot_id=t.lot_id, points=t.points) for t in takes]
    )
    return HoldRead.model_validate(hold)


async def release_hold(
    session: AsyncSession, *, order_id: int, now: datetime, reason: str, committed_ok: bool = False
) -> HoldRead | None:
    """Give held points back, once. None when the order never held points.

    A committed hold is left alone: `committed_ok` says the caller expects that (a late cancel event), otherwise
    it is a 409 (the points were spent; only a refund brings them back).
    """
    hold = await repository.get_hold(session, order_id)
    if hold is None:
        return None
    if hold.status == HoldStatus.HELD and await repository.change_status(
        session, order_id=order_id, expected=HoldStatus.HELD, new=HoldStatus.RELEASED, now=now
    ):
        takes = [LotTake(row.lot_id, row.points) for row in await repository.hold_lots(session, order_id)]
        entry = await ledger.release_held(
            session,
            user_id=hold.user_id,
            ref=order_ref(order_id),
            points=hold.points,
            takes=takes,
            now=now,
            reason=reason,
        )
        if entry is None:
            raise LedgerInconsistent(f"order {order_id} was released twice")
        hold = await repository.get_hold(session, order_id)
        assert hold is not None
    if hold.status == HoldStatus.COMMITTED and not committed_ok:
        raise HoldAlreadyCommitted(f"Order {order_id} was paid with its points")
    return HoldRead.model_validate(hold)


async def commit_hold(session: AsyncSession, *, order_id: int, points_used: int, now: datetime) -> None:
    """The order was paid: its held points are spent."""
    hold = await repository.get_hold(session, order_id)
    if hold is None:
        if points_used == 0:
            return
        # The hold is written before the order commits, so this is a bug or a foreign order: retry, stay visible.
        raise HoldNotFound(f"Order {order_id} was paid with {points_used} points but holds none")
    if hold.points != points_used:
        log.error("paid order's points differ from its hold", extra={"order_id": order_id, "hold": hold.points})
    if await repository.change_status(
        session, order_id=order_id, expected=HoldStatus.HELD, new=HoldStatus.COMMITTED, now=now
    ):
        if await ledger.spend_held(session, user_id=hold.user_id, ref=order_ref(order_id), points=hold.points, now=now):
            return
        raise LedgerInconsistent(f"order {order_id} was spent twice")
    if await repository.change_status(
        session, order_id=order_id, expected=HoldStatus.RELEASED, new=HoldStatus.COMMITTED, now=now
    ):
        # Paid after the hold had expired and its points had come back: the customer got the discount, so the
        # points are taken now, even if that leaves the balance owing.
        await ledger.debit(
            session,
            user_id=hold.user_id,
            kind=PointsEntryKind.SPEND,
            ref=order_ref(order_id),
            points=hold.points,
            now=now,
            allow_negative=True,
            reason="order paid after its points hold was released",
        )


async def return_spent_points(
    session: AsyncSession, *, order_id: int, refund_id: int, points: int, now: datetime, tz: ZoneInfo
) -> int:
    """Give back points spent on refunded lines (a new lot, expiring per the rules in force)."""
    if points == 0:
        return 0
    if not await repository.add_points_returned(session, order_id=order_id, points=points):
        hold = await repository.get_hold(session, order_id)
        if hold is None or hold.status != HoldStatus.COMMITTED:
            raise HoldNotFound(f"Order {order_id} has no spent points to give back")
        raise PointsReturnExceedsSpent(
            f"Refund {refund_id} gives back {points} points; order {order_id} spent {hold.points}, "
            f"{hold.points_returned} already returned"
        )
    hold = await repository.get_hold(session, order_id)
    assert hold is not None
    rules = await current_rules(session)
    entry = await ledger.credit(
        session,
        user_id=hold.user_id,
        kind=PointsEntryKind.REFUND_RETURN,
        ref=f"refund:{refund_id}",
        points=points,
        expires_on=lot_expiry(local_date(now, tz), rules),
        now=now,
        earned=False,
        details={"order_id": order_id, "rules_version": rules.version},
    )
    if entry is None:
        raise LedgerInconsistent(f"refund {refund_id} returned points twice")
    return points


async def get_hold(session: AsyncSession, *, order_id: int) -> HoldRead:
    hold = await repository.get_hold(session, order_id)
    if hold is None:
        raise HoldNotFound(f"Order {order_id} holds no points")
    return HoldRead.model_validate(hold)


async def holds_waiting_since(session: AsyncSession, *, created_before: datetime, limit: int) -> HoldList:
    """Holds not yet committed or released, made before `created_before`. The orders service releases those whose
    order never came to exist (its process died between the hold and its commit)."""
    holds = await repository.held_before(session, created_before=created_before, limit=limit)
    return HoldList(items=[HoldRead.model_validate(hold) for hold in holds])
