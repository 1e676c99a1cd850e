"""All SQL about commission: rules, accounts, accruals, reversals, ledger entries and order facts.

Every balance change goes through `post_entry`: one guarded `UPDATE ... RETURNING` of the account row and the entry
with the balances after it, in the caller's transaction. The account row lock taken by that update orders the
entries of one leader, so each stored `*_after` is exactly the running sum of the deltas before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.leaders.commission.models import (
    CommissionAccount,
    CommissionAccrual,
    CommissionAccrualState,
    CommissionEntry,
    CommissionEntryKind,
    CommissionReversal,
    CommissionRule,
    CommissionRuleScope,
)


@dataclass(frozen=True, slots=True)
class Movement:
    """How much one entry moves each balance (signed)."""

    pending: int = 0
    available: int = 0
    in_withdrawal: int = 0
    withdrawn: int = 0


# --- rules -------------------------------------------------------------------------------------------------------


async def insert_rule(session: AsyncSession, rule: CommissionRule) -> CommissionRule:
    session.add(rule)
    await session.flush()
    return rule


async def list_rules(session: AsyncSession) -> Sequence[CommissionRule]:
    return (
        await session.exec(select(CommissionRule).order_by(col(CommissionRule.effective_from), col(CommissionRule.id)))
    ).all()


async def candidate_rules(
    session: AsyncSession, *, at: datetime, level: str | None, product_ids: Sequence[int]
) -> Sequence[CommissionRule]:
    """Every rule in effect at `at` that could match a line of these products for a leader of this level."""
    scopes = [col(CommissionRule.scope) == CommissionRuleScope.DEFAULT]
    if level is not None:
        scopes.append(and_(col(CommissionRule.scope) == CommissionRuleScope.LEVEL, col(CommissionRule.level) == level))
    if product_ids:
        scopes.append(
            and_(
                col(CommissionRule.scope) == CommissionRuleScope.PRODUCT,
                col(CommissionRule.product_id).in_(product_ids),
            )
        )
    query = select(CommissionRule).where(col(CommissionRule.effective_from) <= at, or_(*scopes))
    return (await session.exec(query)).all()


# --- accounts and entries ----------------------------------------------------------------------------------------


async def get_account(session: AsyncSession, leader_id: str) -> CommissionAccount | None:
    return await session.get(CommissionAccount, leader_id, populate_existing=True)


async def ensure_account(session: AsyncSession, leader_id: str) -> None:
    if await session.get(CommissionAccount, leader_id) is not None:
        return
    await insert_once(session, CommissionAccount(leader_id=leader_id), conflict_columns=("leader_id",))


async def post_entry(
    session: AsyncSession,
    *,
    leader_id: str,
    kind: CommissionEntryKind,
    amount_fen: int,
    movement: Movement,
    ref: str,
    accrued_fen: int = 0,
    reversed_fen: int = 0,
    require_available_fen: int | None = None,
    at: datetime,
    **refs: Any,
) -> CommissionEntry | None:
    """Move the balances and write the entry. None when `require_available_fen` is not covered (nothing changed)."""
    account = CommissionAccount
    stmt = (
        update(account)
        .where(col(account.leader_id) == leader_id)
        .values(
            pending_fen=col(account.pending_fen) + movement.pending,
            available_fen=col(account.available_fen) + movement.available,
            in_withdrawal_fen=col(account.in_withdrawal_fen) + movement.in_withdrawal,
            withdrawn_fen=col(account.withdrawn_fen) + movement.withdrawn,
            accrued_fen=col(account.accrued_fen) + accrued_fen,
            reversed_fen=col(account.reversed_fen) + reversed_fen,
            updated_at=at,
        )
        .returning(
            col(account.pending_fen),
            col(account.available_fen),
            col(account.in_withdrawal_fen),
            col(account.withdrawn_fen),
        )
        .execution_options(synchronize_session=False)
    )
    if require_available_fen is not None:
        # The guard that makes parallel withdrawals unable to overdraw: the check and the change are one statement.
        stmt = stmt.where(col(account.available_fen) >= require_available_fen)
    row = (await session.exec(stmt)).one_or_none()
    if row is None:
        return None
    pending_after, available_after, in_withdrawal_after, withdrawn_after = row
    entry = CommissionEntry(
        leader_id=leader_id,
        kind=kind,
        amount_fen=amount_fen,
        pending_delta_fen=movement.pending,
        available_delta_fen=movement.available,
        in_withdrawal_delta_fen=movement.in_withdrawal,
        withdrawn_delta_fen=movement.withdrawn,
        pending_after_fen=pending_after,
        available_after_fen=available_after,
        in_withdrawal_after_fen=in_withdrawal_after,
        withdrawn_after_fen=withdrawn_after,
        ref=ref,
        created_at=at,
        **refs,
    )
    session.add(entry)
    await session.flush()
    return entry


async def list_entries(
    session: AsyncSession, leader_id: str, *, limit: int, before_id: int | None, kind: CommissionEntryKind | None
) -> Sequence[CommissionEntry]:
    query = (
        select(CommissionEntry)
        .where(CommissionEntry.leader_id == leader_id)
        .order_by(col(CommissionEntry.id).desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(col(CommissionEntry.id) < before_id)
    if kind is not None:
        query = query.where(CommissionEntry.kind == kind)
    return (await session.exec(query)).all()


async def count_effects(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[Any]:
    """(order_id, line_id, refund_id, count) of the accrual (refund_id None) and reversal entries of these orders."""
    query = (
        select(
            col(CommissionEntry.order_id),
            col(CommissionEntry.line_id),
            col(CommissionEntry.refund_id),
            func.count(),
        )
        .where(
            col(CommissionEntry.order_id).in_(order_ids),
            col(CommissionEntry.kind).in_([CommissionEntryKind.ACCRUAL, CommissionEntryKind.REVERSAL]),
        )
        .group_by(
            col(CommissionEntry.order_id),
            col(CommissionEntry.line_id),
            col(CommissionEntry.refund_id),
        )
    )
    return (await session.exec(query)).all()


async def orders_with_effects(
    session: AsyncSession, *, since: datetime, until: datetime, after: int, limit: int
) -> list[int]:
    """Distinct ids above `after` of the orders with accrual or reversal entries created in `[since, until)`."""
    order_id = col(CommissionEntry.order_id)
    query = (
        select(order_id)
        .where(
            order_id.is_not(None),
            order_id > after,
            col(CommissionEntry.kind).in_([CommissionEntryKind.ACCRUAL, CommissionEntryKind.REVERSAL]),
            col(CommissionEntry.created_at) >= since,
            col(CommissionEntry.created_at) < until,
        )
        .distinct()
        .order_by(order_id)
        .limit(limit)
    )
    return [int(i) for i in (await session.exec(query)).all() if i is not None]


# --- accruals and reversals --------------------------------------------------------------------------------------


async def get_accrual_by_line(session: AsyncSession, line_id: int) -> CommissionAccrual | None:
    query = (
        select(CommissionAccrual).where(CommissionAccrual.line_id == line_id).execution_options(populate_existing=True)
    )
    return (await session.exec(query)).one_or_none()


async def insert_accrual(session: AsyncSession, accrual: CommissionAccrual) -> CommissionAccrual:
    session.add(accrual)
    await session.flush()
    return accrual


async def count_accruals_of_order(session: AsyncSession, order_id: int) -> int:
    query = select(func.count()).select_from(CommissionAccrual).where(CommissionAccrual.order_id == order_id)
    return int((await session.exec(query)).one())


async def start_freeze(session: AsyncSession, order_id: int, *, picked_up_at: datetime) -> int:
    """Set the pickup time on the order's accruals that have none yet (a redelivery changes nothing)."""
    result = await session.exec(
        update(CommissionAccrual)
        .where(col(CommissionAccrual.order_id) == order_id, col(CommissionAccrual.picked_up_at).is_(None))
        .values(picked_up_at=picked_up_at)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


async def due_accrual_ids(
    session: AsyncSession, *, picked_up_before: datetime, after_id: int, limit: int
) -> Sequence[int]:
    query = (
        select(CommissionAccrual.id)
        .where(
            CommissionAccrual.state == CommissionAccrualState.PENDING,
            col(CommissionAccrual.picked_up_at) < picked_up_before,
            col(CommissionAccrual.id) > after_id,
        )
        .order_by(col(CommissionAccrual.id))
        .limit(limit)
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def mark_settled(session: AsyncSession, accrual_id: int, *, at: datetime) -> tuple[str, int, int, int] | None:
    """pending → available, guarded on the state; returns (leader_id, remaining commission, order_id, line_id), or
    None when another run settled it first."""
    accrual = CommissionAccrual
    row = (
        await session.exec(
            update(accrual)
            .where(col(accrual.id) == accrual_id, col(accrual.state) == CommissionAccrualState.PENDING)
            .values(state=CommissionAccrualState.AVAILABLE, settled_at=at)
            .returning(
                col(accrual.leader_id),
                col(accrual.commission_fen) - col(accrual.reversed_fen),
                col(accrual.order_id),
                col(accrual.line_id),
            )
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is None:
        return None
    return str(row[0]), int(row[1]), int(row[2]), int(row[3])


async def record_reversed(
    session: AsyncSession,
    accrual_id: int,
    *,
    seen_quantity: int,
    seen_state: CommissionAccrualState,
    quantity: int,
    fen: int,
) -> bool:
    """Add a reversal to the accrual, guarded on what was read (so a parallel settlement or refund is never lost)."""
    accrual = CommissionAccrual
    result = await session.exec(
        update(accrual)
        .where(
            col(accrual.id) == accrual_id,
            col(accrual.reversed_quantity) == seen_quantity,
            col(accrual.state) == seen_state,
        )
        .values(reversed_quantity=seen_quantity + quantity, reversed_fen=col(accrual.reversed_fen) + fen)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def reversal_exists(session: AsyncSession, *, refund_id: int, line_id: int) -> bool:
    query = select(CommissionReversal.id).where(
        CommissionReversal.refund_id == refund_id, CommissionReversal.line_id == line_id
    )
    return (await session.exec(query)).first() is not None


async def insert_reversal(session: AsyncSession, reversal: CommissionReversal) -> None:
    session.add(reversal)
    await session.flush()
