"""All SQL about accounts, entries and lots.

Lock order, kept by every caller so PostgreSQL never deadlocks: the effect's own row (hold, sign-in, reward...)
first, then the account row (the guarded UPDATE takes its lock), then the user's lots.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.points.ledger.models import Account, Entry, Lot


async def ensure_account(session: AsyncSession, user_id: str, now: datetime) -> None:
    await insert_once(session, Account(user_id=user_id, created_at=now, updated_at=now), conflict_columns=("user_id",))


async def get_account(session: AsyncSession, user_id: str) -> Account | None:
    # populate_existing: the guarded updates below bypass the identity map, so read the row as it is now.
    query = select(Account).where(Account.user_id == user_id).execution_options(populate_existing=True)
    return (await session.exec(query)).one_or_none()


async def lock_account(session: AsyncSession, user_id: str) -> Account | None:
    """Read the account holding its row lock (PostgreSQL); SQLite transactions are serialised already."""
    query = (
        select(Account).where(Account.user_id == user_id).with_for_update().execution_options(populate_existing=True)
    )
    return (await session.exec(query)).one_or_none()


async def change_account(
    session: AsyncSession,
    *,
    user_id: str,
    balance_change: int,
    held_change: int,
    earned: int,
    guard_balance: bool,
    now: datetime,
) -> tuple[int, int] | None:
    """Apply a change in one guarded UPDATE; None when the guard refused it (not enough balance or held)."""
    query = (
        update(Account)
        .where(col(Account.user_id) == user_id, col(Account.held) + held_change >= 0)
        .values(
            balance=col(Account.balance) + balance_change,
            held=col(Account.held) + held_change,
            lifetime_earned=col(Account.lifetime_earned) + earned,
            updated_at=now,
        )
        .returning(col(Account.balance), col(Account.held))
    )
    if guard_balance:
        # Parallel spends each subtract under the row lock, so none can take the balance below zero.
        query = query.where(col(Account.balance) + balance_change >= 0)
    row = (await session.exec(query)).one_or_none()
    return None if row is None else (int(row[0]), int(row[1]))


async def mark_newcomer_awarded(session: AsyncSession, user_id: str, now: datetime) -> bool:
    query = (
        update(Account)
        .where(col(Account.user_id) == user_id, col(Account.newcomer_awarded_at).is_(None))
        .values(newcomer_awarded_at=now)
    )
    result = await session.exec(query)
    return bool(result.rowcount == 1)


async def insert_entry(session: AsyncSession, entry: Entry) -> Entry:
    session.add(entry)
    await session.flush()
    return entry


async def list_entries(session: AsyncSession, *, user_id: str, limit: int, after_id: int | None) -> Sequence[Entry]:
    query = select(Entry).where(Entry.user_id == user_id).order_by(col(Entry.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(Entry.id) < after_id)
    return (await session.exec(query)).all()


async def insert_lot(session: AsyncSession, lot: Lot) -> Lot:
    session.add(lot)
    await session.flush()
    return lot


async def spendable_lots(session: AsyncSession, user_id: str) -> Sequence[Lot]:
    """The user's lots with points left, the ones expiring first first (FIFO by expiry, then by age)."""
    query = (
        select(Lot)
        .where(Lot.user_id == user_id, col(Lot.remaining) > 0)
        .order_by(col(Lot.expires_on), col(Lot.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).all()


async def take_from_lot(session: AsyncSession, lot_id: int, points: int) -> bool:
    query = (
        update(Lot)
        .where(col(Lot.id) == lot_id, col(Lot.remaining) >= points)
        .values(remaining=col(Lot.remaining) - points)
    )
    return bool((await session.exec(query)).rowcount == 1)


async def return_to_lot(session: AsyncSession, lot_id: int, points: int) -> bool:
    query = (
        update(Lot)
        .where(col(Lot.id) == lot_id, col(Lot.remaining) + points <= col(Lot.points))
        .values(remaining=col(Lot.remaining) + points)
    )
    return bool((await session.exec(query)).rowcount == 1)


async def expire_lot(session: AsyncSession, lot_id: int, remaining: int) -> int | None:
    """Zero the lot if it still holds exactly `remaining`; returns the lot's expired total afterwards."""
    query = (
        update(Lot)
        .where(col(Lot.id) == lot_id, col(Lot.remaining) == remaining)
        .values(remaining=0, expired=col(Lot.expired) + remaining)
        .returning(col(Lot.expired))
    )
    row = (await session.exec(query)).one_or_none()
    return None if row is None else int(row[0])


async def due_lots(session: AsyncSession, *, before: date, limit: int, user_id: str | None = None) -> Sequence[Lot]:
    """Lots whose expiry date is past and that still hold points."""
    query = (
        select(Lot)
        .where(col(Lot.expires_on) < before, col(Lot.remaining) > 0)
        .order_by(col(Lot.expires_on), col(Lot.id))
        .limit(limit)
    )
    if user_id is not None:
        query = query.where(Lot.user_id == user_id)
    return (await session.exec(query)).all()


async def get_lot(session: AsyncSession, lot_id: int) -> Lot | None:
    query = select(Lot).where(Lot.id == lot_id).execution_options(populate_existing=True)
    return (await session.exec(query)).one_or_none()


async def expiring_totals(
    session: AsyncSession, *, user_id: str, from_date: date, until: date
) -> Sequence[tuple[date, int]]:
    query = (
        select(col(Lot.expires_on), func.sum(col(Lot.remaining)))
        .where(
            Lot.user_id == user_id,
            col(Lot.remaining) > 0,
            col(Lot.expires_on) >= from_date,
            col(Lot.expires_on) <= until,
        )
        .group_by(col(Lot.expires_on))
        .order_by(col(Lot.expires_on))
    )
    return [(d, int(total)) for d, total in (await session.exec(query)).all()]
