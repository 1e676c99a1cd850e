"""Withdrawals: available → in withdrawal on request (guarded, so parallel requests never overdraw), then paid out
(in withdrawal → withdrawn) or rejected (back to available). Each step is a ledger entry."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.common.auth import Principal
from services.common.pagination import Page, PageParams
from services.common.permissions import Permission
from services.leaders.access import NotYourLeaderAccount, ensure_the_leader
from services.leaders.commission import repository as commission_repository
from services.leaders.commission.models import CommissionEntryKind
from services.leaders.commission.repository import Movement
from services.leaders.db import outbox
from services.leaders.profiles.access import acting_leader, ensure_reads_leader
from services.leaders.withdrawals import repository
from services.leaders.withdrawals.access import readable_withdrawal
from services.leaders.withdrawals.exceptions import (
    InsufficientBalance,
    PayoutFailed,
    WithdrawalAlreadyDecided,
    WithdrawalBelowMinimum,
    WithdrawalNotFound,
)
from services.leaders.withdrawals.models import Withdrawal, WithdrawalStatus
from services.leaders.withdrawals.payout import PayoutError, PayoutProvider, PayoutResult, PayoutState
from services.leaders.withdrawals.schemas import WithdrawalCreate, WithdrawalRead, WithdrawalReject


async def request_withdrawal(
    session: AsyncSession, *, user: Principal, leader_id: str, data: WithdrawalCreate, minimum_fen: int, now: datetime
) -> WithdrawalRead:
    ensure_the_leader(user, leader_id, action="withdraw their own commission")
    await acting_leader(session, user, leader_id)
    if data.amount_fen < max(minimum_fen, 1):
        raise WithdrawalBelowMinimum(f"The minimum withdrawal is {max(minimum_fen, 1)} fen")
    withdrawal = await repository.insert_withdrawal(
        session, Withdrawal(leader_id=leader_id, amount_fen=data.amount_fen, requested_at=now)
    )
    entry = await commission_repository.post_entry(
        session,
        leader_id=leader_id,
        kind=CommissionEntryKind.WITHDRAWAL,
        amount_fen=-data.amount_fen,
        movement=Movement(available=-data.amount_fen, in_withdrawal=data.amount_fen),
        # Also refuses while a negative (owed) balance is not paid back, and for a leader who never earned anything
        # (no account row yet).
        require_available_fen=data.amount_fen,
        ref=f"withdrawal:{withdrawal.id}",
        at=now,
        withdrawal_id=withdrawal.id,
    )
    if entry is None:
        # Raising rolls back the whole request, the withdrawal row included.
        raise InsufficientBalance(f"Available commission does not cover {data.amount_fen} fen")
    return WithdrawalRead.model_validate(withdrawal)


async def _require(session: AsyncSession, withdrawal_id: int) -> Withdrawal:
    withdrawal = await repository.get_withdrawal(session, withdrawal_id)
    if withdrawal is None:
        raise WithdrawalNotFound(f"Withdrawal {withdrawal_id} does not exist")
    return withdrawal


async def approve_withdrawal(
    session: AsyncSession, *, withdrawal_id: int, decided_by: str, payout: PayoutProvider, now: datetime
) -> WithdrawalRead:
    withdrawal = await _require(session, withdrawal_id)
    if withdrawal.status != WithdrawalStatus.REQUESTED:
        raise WithdrawalAlreadyDecided(f"Withdrawal {withdrawal_id} is already {withdrawal.status}")
    try:
        # Paid before our commit: if the commit then fails, approval is retried and the provider's idempotency on
        # the withdrawal id keeps it from paying twice.
        result = await payout.pay(
            withdrawal_id=withdrawal_id, leader_id=withdrawal.leader_id, amount_fen=withdrawal.amount_fen
        )
    except PayoutError as exc:
        raise PayoutFailed(str(exc)) from exc
    if not await repository.move_withdrawal(
        session,
        withdrawal_id,
        expected=WithdrawalStatus.REQUESTED,
        values={"status": WithdrawalStatus.PAYING, "decided_by": decided_by, "decided_at": now},
    ):
        raise WithdrawalAlreadyDecided(f"Withdrawal {withdrawal_id} was decided meanwhile")
    await apply_payout_result(session, withdrawal=withdrawal, result=result, now=now)
    decided = WithdrawalRead.model_validate(await _require(session, withdrawal_id))
    await _audit(session, decided, action="withdrawal.approved", decided_by=decided_by, now=now)
    return decided


async def _audit(
    session: AsyncSession, decided: WithdrawalRead, *, action: str, decided_by: str, now: datetime
) -> None:
    # Only a requested withdrawal can be decided (the guarded move above), so that is what it was.
    await audit.record(
        session, outbox, actor=decided_by, action=action, target=("withdrawal", decided.id),
        before={"status": WithdrawalStatus.REQUESTED, "leader_id": decided.leader_id, "amount_fen": decided.amount_fen},
        after={"status": decided.status, "leader_id": decided.leader_id, "amount_fen": decided.amount_fen},
        at=now,
    )  # fmt: skip


async def apply_payout_result(
    session: AsyncSession, *, withdrawal: Withdrawal, result: PayoutResult, now: datetime
) -> WithdrawalStatus:
    """Record what the provider says of a paying withdrawal: paid (in withdrawal → withdrawn), failed (a reversing
    entry returns the amount to available), or still on its way. Returns the status it is in now."""
    assert withdrawal.id is not None
    withdrawal_id = withdrawal.id
    common = {"payout_ref": result.reference or None, "payout_state": result.state.value}
    if result.state == PayoutState.SUCCEEDED:
        if await repository.move_withdrawal(
            session,
            withdrawal_id,
            expected=WithdrawalStatus.PAYING,
            values={**common, "status": WithdrawalStatus.PAID, "payout_package": None},
        ):
            await commission_repository.post_entry(
                session,
                leader_id=withdrawal.leader_id,
                kind=CommissionEntryKind.WITHDRAWAL_PAID,
                amount_fen=withdrawal.amount_fen,
                movement=Movement(in_withdrawal=-withdrawal.amount_fen, withdrawn=withdrawal.amount_fen),
                ref=f"withdrawal_paid:{withdrawal_id}",
                at=now,
                withdrawal_id=withdrawal_id,
            )
        return WithdrawalStatus.PAID
    if result.state == PayoutState.FAILED:
        reason = f"payout failed: {result.reason or 'the provider did not pay'}"[:500]
        if await repository.move_withdrawal(
            session,
            withdrawal_id,
            expected=WithdrawalStatus.PAYING,
            values={**common, "status": WithdrawalStatus.FAILED, "reason": reason, "payout_package": None},
        ):
            await commission_repository.post_entry(
                session,
                leader_id=withdrawal.leader_id,
                kind=CommissionEntryKind.WITHDRAWAL_RETURNED,
                amount_fen=withdrawal.amount_fen,
                movement=Movement(in_withdrawal=-withdrawal.amount_fen, available=withdrawal.amount_fen),
                ref=f"withdrawal_returned:{withdrawal_id}",
                at=now,
                withdrawal_id=withdrawal_id,
            )
        return WithdrawalStatus.FAILED
    await repository.move_withdrawal(
        session,
        withdrawal_id,
        expected=WithdrawalStatus.PAYING,
        values={**common, "payout_package": result.package_info},
    )
    return WithdrawalStatus.PAYING


async def reject_withdrawal(
    session: AsyncSession, *, withdrawal_id: int, decided_by: str, data: WithdrawalReject, now: datetime
) -> WithdrawalRead:
    withdrawal = await _require(session, withdrawal_id)
    if not await repository.decide_withdrawal(
        session, withdrawal_id, status=WithdrawalStatus.REJECTED, decided_by=decided_by, at=now, reason=data.reason
    ):
        raise WithdrawalAlreadyDecided(f"Withdrawal {withdrawal_id} is already {withdrawal.status}")
    await commission_repository.post_entry(
        session,
        leader_id=withdrawal.leader_id,
        kind=CommissionEntryKind.WITHDRAWAL_RETURNED,
        amount_fen=withdrawal.amount_fen,
        movement=Movement(in_withdrawal=-withdrawal.amount_fen, available=withdrawal.amount_fen),
        ref=f"withdrawal_returned:{withdrawal_id}",
        at=now,
        withdrawal_id=withdrawal_id,
    )
    decided = WithdrawalRead.model_validate(await _require(session, withdrawal_id))
    await _audit(session, decided, action="withdrawal.rejected", decided_by=decided_by, now=now)
    return decided


async def get_withdrawal(session: AsyncSession, *, user: Principal, withdrawal_id: int) -> WithdrawalRead:
    return WithdrawalRead.model_validate(await readable_withdrawal(session, withdrawal_id, user))


async def list_withdrawals(
    session: AsyncSession,
    *,
    user: Principal,
    leader_id: str | None,
    status: WithdrawalStatus | None,
    page: PageParams,
) -> Page[WithdrawalRead]:
    if leader_id is not None:
        await ensure_reads_leader(session, user, leader_id)
    elif not user.can(Permission.WITHDRAWALS_DECIDE):
        raise NotYourLeaderAccount("Only staff deciding withdrawals read every leader's withdrawals at once")
    rows = await repository.list_withdrawals(
        session, leader_id=leader_id, status=status, limit=page.limit + 1, before_id=page.after_int()
    )
    return page.page(rows, key=lambda w: [w.id], convert=WithdrawalRead.model_validate)
