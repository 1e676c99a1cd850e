"""Payouts without a finance user: small withdrawals approved automatically, and payouts on their way followed
until the provider says they succeeded or failed. One transaction per withdrawal; a failing one is logged and
tried again on the next run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from services.common.db import Database
from services.leaders.config import Settings
from services.leaders.withdrawals import repository, service
from services.leaders.withdrawals.exceptions import PayoutFailed, WithdrawalAlreadyDecided
from services.leaders.withdrawals.models import WithdrawalStatus
from services.leaders.withdrawals.payout import PayoutError, PayoutProvider

log = logging.getLogger("services.leaders.withdrawals")

AUTO_APPROVER = "auto"


async def approve_small_withdrawals(
    db: Database, payout: PayoutProvider, *, up_to_fen: int, clock: Callable[[], datetime], batch: int = 100
) -> int:
    """Approve (and pay) requested withdrawals of at most `up_to_fen`. Returns how many were approved."""
    if up_to_fen <= 0:
        return 0
    async with db.reading() as session:
        ids = await repository.ids_to_pay_out(session, up_to_fen=up_to_fen, limit=batch)
    approved = 0
    for withdrawal_id in ids:
        try:
            async with db.transaction() as session:
                await service.approve_withdrawal(
                    session, withdrawal_id=withdrawal_id, decided_by=AUTO_APPROVER, payout=payout, now=clock()
                )
            approved += 1
        except WithdrawalAlreadyDecided:
            continue  # a finance user was quicker
        except PayoutFailed as exc:
            log.warning("automatic payout failed; tried again next run",
                        extra={"withdrawal_id": withdrawal_id, "error": str(exc)})  # fmt: skip
        except Exception:
            log.exception("automatic approval failed", extra={"withdrawal_id": withdrawal_id})
    return approved


async def follow_payouts(
    db: Database, payout: PayoutProvider, *, clock: Callable[[], datetime], batch: int = 100
) -> int:
    """Ask the provider about every payout on its way; returns how many finished (paid or failed)."""
    async with db.reading() as session:
        ids = await repository.paying_ids(session, limit=batch)
    finished = 0
    for withdrawal_id in ids:
        try:
            result = await payout.query(withdrawal_id=withdrawal_id)
        except PayoutError as exc:
            log.warning("could not ask about a payout", extra={"withdrawal_id": withdrawal_id, "error": str(exc)})
            continue
        async with db.transaction() as session:
            withdrawal = await repository.get_withdrawal(session, withdrawal_id)
            if withdrawal is None:
                continue
            status = await service.apply_payout_result(session, withdrawal=withdrawal, result=result, now=clock())
        finished += status != WithdrawalStatus.PAYING
    return finished


async def payouts_job(app: FastAPI) -> int:
    settings: Settings = app.state.settings
    payout: PayoutProvider = app.state.payout_provider
    approved = await approve_small_withdrawals(
        app.state.db, payout, up_to_fen=settings.withdrawal_auto_approve_fen, clock=app.state.clock
    )
    return approved + await follow_payouts(app.state.db, payout, clock=app.state.clock)
