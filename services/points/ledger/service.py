"""The points ledger: every balance change is one guarded account UPDATE plus one immutable entry, and earned
points live in lots that expire; spending takes the lots expiring first.

Other modules (sign-ins, referrals, holds, purchases) call `credit`, `debit`, `move_to_held`, `release_held`,
`spend_held` with a reference that is unique per (user, kind): repeating an effect writes nothing and returns None.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.common.clock import local_date
from services.common.pagination import Page, PageParams
from services.points.db import outbox
from services.points.ledger import repository
from services.points.ledger.exceptions import AccountNotFound, InsufficientPoints
from services.points.ledger.models import Entry, Lot, PointsEntryKind
from services.points.ledger.schemas import AccountRead, EntryRead, ExpiringPoints, OpsEntryRead
from services.points.rules.service import current_rules, lot_expiry

log = logging.getLogger("services.points.ledger")


class LedgerInconsistent(RuntimeError):
    """A guard that cannot fail while the account row is locked did fail: stop rather than write a wrong entry."""


@dataclass(frozen=True, slots=True)
class LotTake:
    lot_id: int
    points: int


async def _post(
    session: AsyncSession,
    *,
    user_id: str,
    kind: PointsEntryKind,
    ref: str,
    balance_change: int,
    held_change: int,
    earned: int,
    guard_balance: bool,
    now: datetime,
    reason: str | None = None,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> Entry | None:
    """Change the account and write the entry in one savepoint; None if this (user, kind, ref) was posted before."""
    await repository.ensure_account(session, user_id, now)
    try:
        async with session.begin_nested():
            after = await repository.change_account(
                session,
                user_id=user_id,
                balance_change=balance_change,
                held_change=held_change,
                earned=earned,
                guard_balance=guard_balance,
                now=now,
            )
            if after is None:
                if guard_balance:
                    raise InsufficientPoints(f"{-balance_change} points are needed")
                raise LedgerInconsistent(f"held points of {user_id} would go below zero ({kind} {ref})")
            entry = await repository.insert_entry(
                session,
                Entry(
                    user_id=user_id,
                    kind=kind,
                    points=balance_change,
                    balance_after=after[0],
                    held_change=held_change,
                    held_after=after[1],
                    ref=ref,
                    reason=reason,
                    actor=actor,
                    details=details or {},
                    created_at=now,
                ),
            )
    except IntegrityError:
        # The unique (user, kind, ref) says this effect already happened; the savepoint undid our change.
        return None
    return entry


async def credit(
    session: AsyncSession,
    *,
    user_id: str,
    kind: PointsEntryKind,
    ref: str,
    points: int,
    expires_on: date,
    now: datetime,
    earned: bool = True,
    reason: str | None = None,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> Entry | None:
    """Add points in a new lot. Points owed (a negative balance) are paid off first and get no lot."""
    assert points >= 0
    entry = await _post(
        session,
        user_id=user_id,
        kind=kind,
        ref=ref,
        balance_change=points,
        held_change=0,
        earned=points if earned else 0,
        guard_balance=False,
        now=now,
        reason=reason,
        actor=actor,
        details=details,
    )
    if entry is None:
        return None
    owed_before = max(0, points - entry.balance_after)
    spendable = points - min(points, owed_before)
    if spendable > 0:
        assert entry.id is not None
        await repository.insert_lot(
            session,
            Lot(user_id=user_id, entry_id=entry.id, points=spendable, remaining=spendable, expires_on=expires_on),
        )
    return entry


async def _take_from_lots(session: AsyncSession, user_id: str, points: int) -> list[LotTake]:
    """Take up to `points` from the lots expiring first. Runs after the account row is locked."""
    takes: list[LotTake] = []
    left = points
    for lot in await repository.spendable_lots(session, user_id):
        if left == 0:
            break
        take = min(lot.remaining, left)
        assert lot.id is not None
        if not await repository.take_from_lot(session, lot.id, take):
            raise LedgerInconsistent(f"lot {lot.id} changed under the account lock")
        takes.append(LotTake(lot.id, take))
        left -= take
    return takes


async def debit(
    session: AsyncSession,
    *,
    user_id: str,
    kind: PointsEntryKind,
    ref: str,
    points: int,
    now: datetime,
    allow_negative: bool,
    reason: str | None = None,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> Entry | None:
    """Take points away. With `allow_negative` (reversals) it is never refused: what is missing is owed."""
    assert points >= 0
    entry = await _post(
        session,
        user_id=user_id,
        kind=kind,
        ref=ref,
        balance_change=-points,
        held_change=0,
        earned=0,
        guard_balance=not allow_negative,
        now=now,
        reason=reason,
        actor=actor,
        details=details,
    )
    if entry is not None:
        await _take_from_lots(session, user_id, points)
    return entry


async def move_to_held(
    session: AsyncSession, *, user_id: str, ref: str, points: int, now: datetime, details: dict[str, Any]
) -> tuple[Entry, list[LotTake]] | None:
    """Reserve points for an unpaid order; refused with INSUFFICIENT_POINTS, never taken below zero."""
    entry = await _post(
        session,
        user_id=user_id,
        kind=PointsEntryKind.HOLD,
        ref=ref,
        balance_change=-points,
        held_change=points,
        earned=0,
        guard_balance=True,
        now=now,
        details=details,
    )
    if entry is None:
        return None
    return entry, await _take_from_lots(session, user_id, points)


async def release_held(
    session: AsyncSession,
    *,
    user_id: str,
    ref: str,
    points: int,
    takes: Sequence[LotTake],
    now: datetime,
    reason: str,
) -> Entry | None:
    """Give held points back to the balance and to the very lots they came from."""
    entry = await _post(
        session,
        user_id=user_id,
        kind=PointsEntryKind.RELEASE,
        ref=ref,
        balance_change=points,
        held_change=-points,
        earned=0,
        guard_balance=False,
        now=now,
        reason=reason,
    )
    if entry is None:
        return None
    owed_before = max(0, points - entry.balance_after)
    # If the balance went negative while the points were held (a reversal), the release pays that off first and
    # only the rest goes back into lots, the lots expiring last receiving first so no lot gets more than it had.
    to_lots = points - min(points, owed_before)
    for take in sorted(takes, key=lambda t: t.lot_id, reverse=True):
        if to_lots == 0:
            break
        give = min(take.points, to_lots)
        if not await repository.return_to_lot(session, take.lot_id, give):
            raise LedgerInconsistent(f"lot {take.lot_id} cannot take back {give} points")
        to_lots -= give
    return entry


async def spend_held(session: AsyncSession, *, user_id: str, ref: str, points: int, now: datetime) -> Entry | None:
    """The order was paid: the held points are gone (the balance already went down when they were held)."""
    return await _post(
        session,
        user_id=user_id,
        kind=PointsEntryKind.SPEND,
        ref=ref,
        balance_change=0,
        held_change=-points,
        earned=0,
        guard_balance=False,
        now=now,
    )


async def lock_account(session: AsyncSession, *, user_id: str, now: datetime) -> None:
    """Serialise decisions about one user's points that read before they write (PostgreSQL row lock; SQLite
    transactions are serialised already). Taken where the account lock would come anyway, so the lock order holds."""
    await repository.ensure_account(session, user_id, now)
    await repository.lock_account(session, user_id)


# ---------------------------------------------------------------------------------------------------- expiry


async def expire_lot(session: AsyncSession, *, lot_id: int, today: date, now: datetime) -> int:
    """Turn the remainder of one lot past its date into an `expire` entry; returns the points expired."""
    lot = await repository.get_lot(session, lot_id)
    if lot is None or lot.remaining == 0 or lot.expires_on >= today:
        return 0
    # Account first, then the lot: the order every spend takes its locks in.
    await repository.lock_account(session, lot.user_id)
    lot = await repository.get_lot(session, lot_id)
    assert lot is not None
    remaining = lot.remaining
    if remaining == 0:
        return 0
    expired_total = await repository.expire_lot(session, lot_id, remaining)
    if expired_total is None:
        return 0
    entry = await _post(
        session,
        user_id=lot.user_id,
        kind=PointsEntryKind.EXPIRE,
        # The lot's running expired total makes the reference unique even if a lot expires twice (points released
        # back into it after its date).
        ref=f"lot:{lot_id}:{expired_total}",
        balance_change=-remaining,
        held_change=0,
        earned=0,
        guard_balance=False,
        now=now,
        details={"lot_id": lot_id, "expires_on": lot.expires_on.isoformat()},
    )
    if entry is None:
        raise LedgerInconsistent(f"lot {lot_id} expired twice with the same total")
    return remaining


async def expire_due_lots_of_user(session: AsyncSession, *, user_id: str, today: date, now: datetime) -> int:
    expired = 0
    for lot in await repository.due_lots(session, before=today, limit=1000, user_id=user_id):
        assert lot.id is not None
        expired += await expire_lot(session, lot_id=lot.id, today=today, now=now)
    return expired


# ---------------------------------------------------------------------------------------------------- reading


async def welcome(session: AsyncSession, *, user_id: str, now: datetime, tz: ZoneInfo) -> None:
    """Create the account on the user's first signed-in action and grant the newcomer points, once."""
    await repository.ensure_account(session, user_id, now)
    if not await repository.mark_newcomer_awarded(session, user_id, now):
        return
    rules = await current_rules(session)
    if rules.newcomer_points > 0:
        await credit(
            session,
            user_id=user_id,
            kind=PointsEntryKind.NEWCOMER,
            ref="newcomer",
            points=rules.newcomer_points,
            expires_on=lot_expiry(local_date(now, tz), rules),
            now=now,
            details={"rules_version": rules.version},
        )


async def read_account(
    session: AsyncSession,
    *,
    user_id: str,
    now: datetime,
    tz: ZoneInfo,
    window_days: int,
    must_exist: bool = False,
    expire_due: bool = True,
) -> AccountRead:
    """The account as the user sees it. With `expire_due` (the owner's own reads, which already write) points past
    their date are expired first, so the balance shown is never spendable-but-expired; other reads stay read-only
    and leave that to the expiry job."""
    today = local_date(now, tz)
    if expire_due:
        await expire_due_lots_of_user(session, user_id=user_id, today=today, now=now)
    account = await repository.get_account(session, user_id)
    if account is None:
        if must_exist:
            raise AccountNotFound(f"User {user_id} has no points account")
        return AccountRead(user_id=user_id, balance=0, held=0, lifetime_earned=0, owed=0, expiring=[])
    totals = await repository.expiring_totals(
        session, user_id=user_id, from_date=today, until=today + timedelta(days=window_days)
    )
    return AccountRead(
        user_id=user_id,
        balance=account.balance,
        held=account.held,
        lifetime_earned=account.lifetime_earned,
        owed=max(0, -account.balance),
        expiring=[ExpiringPoints(points=points, expires_on=day) for day, points in totals],
    )


async def list_entries(session: AsyncSession, *, user_id: str, page: PageParams) -> Page[EntryRead]:
    rows = await repository.list_entries(session, user_id=user_id, limit=page.limit + 1, after_id=page.after_int())
    return page.page(rows, key=lambda e: [e.id], convert=EntryRead.model_validate)


async def list_entries_for_ops(session: AsyncSession, *, user_id: str, page: PageParams) -> Page[OpsEntryRead]:
    rows = await repository.list_entries(session, user_id=user_id, limit=page.limit + 1, after_id=page.after_int())
    return page.page(rows, key=lambda e: [e.id], convert=OpsEntryRead.model_validate)


async def adjust(
    session: AsyncSession,
    *,
    user_id: str,
    points: int,
    reason: str,
    allow_negative: bool,
    actor: str,
    now: datetime,
    tz: ZoneInfo,
) -> OpsEntryRead:
    """A manual correction by ops, kept with its reason and who made it."""
    ref = f"adjustment:{uuid.uuid4().hex}"
    if points > 0:
        rules = await current_rules(session)
        entry = await credit(
            session,
            user_id=user_id,
            kind=PointsEntryKind.ADJUSTMENT,
            ref=ref,
            points=points,
            expires_on=lot_expiry(local_date(now, tz), rules),
            now=now,
            reason=reason,
            actor=actor,
            details={"rules_version": rules.version},
        )
    else:
        entry = await debit(
            session,
            user_id=user_id,
            kind=PointsEntryKind.ADJUSTMENT,
            ref=ref,
            points=-points,
            now=now,
            allow_negative=allow_negative,
            reason=reason,
            actor=actor,
        )
    assert entry is not None, "a fresh reference cannot be a duplicate"
    log.info("points adjusted", extra={"user_id": user_id, "points": points, "actor": actor})
    await audit.record(
        session, outbox, actor=actor, action="points.adjusted", target=("points_account", user_id),
        before={"balance": entry.balance_after - entry.points},
        after={"balance": entry.balance_after, "points": entry.points, "entry_id": entry.id},
        at=now,
    )  # fmt: skip
    return OpsEntryRead.model_validate(entry)
