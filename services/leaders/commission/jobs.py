"""Settlement: pending commission whose freeze has passed becomes available, run periodically and by ops on demand.

Each accrual settles in its own transaction with a guarded update, so several processes may run this at once and
an accrual that fails is logged and left for the next run while the others settle.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.common.db import Database
from services.leaders.commission import repository, service
from services.leaders.commission.schemas import SettlementResult
from services.leaders.config import Settings

log = logging.getLogger("services.leaders.commission")


async def settle_due(
    db: Database, *, freeze_days: int, tz: ZoneInfo, now: datetime, batch_size: int = 500
) -> SettlementResult:
    """Settle every accrual picked up before the settlement cut-off of `now`. Idempotent."""
    cutoff = service.settlement_cutoff(now, freeze_days=freeze_days, tz=tz)
    settled = settled_fen = 0
    after_id = 0  # keyset, so an accrual that keeps failing is tried once per run, not forever
    while True:
        async with db.reading() as session:
            ids = await repository.due_accrual_ids(
                session, picked_up_before=cutoff, after_id=after_id, limit=batch_size
            )
        for accrual_id in ids:
            try:
                async with db.transaction() as session:
                    moved = await service.settle_accrual(session, accrual_id=accrual_id, now=now)
            except Exception:
                log.exception("could not settle an accrual; retried next run", extra={"accrual_id": accrual_id})
                continue
            if moved is not None:
                settled += 1
                settled_fen += moved
        if len(ids) < batch_size:
            break
        after_id = ids[-1]
    if settled:
        log.info("settlement", extra={"accruals": settled, "fen": settled_fen})
    return SettlementResult(settled_accruals=settled, settled_fen=settled_fen, cutoff=cutoff)


async def settlement_job(app: FastAPI) -> SettlementResult:
    settings: Settings = app.state.settings
    return await settle_due(
        app.state.db, freeze_days=settings.commission_freeze_days, tz=settings.tz, now=app.state.clock()
    )
