"""The daily delivery cut-off, run every minute (and by ops on demand): one transaction per leader, safe to repeat
and to run in several processes at once (orders are claimed with a guarded update)."""

from __future__ import annotations

import logging
from datetime import datetime, time
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.common.db import Database
from services.orders.config import Settings
from services.orders.delivery import repository, service
from services.orders.delivery.schemas import CutoffResult, DeliveryBatchSummary

log = logging.getLogger("services.orders.delivery")


async def run_cutoff(db: Database, *, tz: ZoneInfo, cutoff: time, now: datetime) -> CutoffResult:
    """Batch every leader's paid orders up to the latest cut-off at or before `now`."""
    cutoff_date, cutoff_at = service.latest_cutoff(now, tz, cutoff)
    async with db.reading() as session:
        leader_ids = await repository.leaders_with_orders_to_ship(session, cutoff_at=cutoff_at)
    touched: list[DeliveryBatchSummary] = []
    for leader_id in leader_ids:
        try:
            async with db.transaction() as session:
                batch = await service.batch_leader_orders(
                    session, leader_id=leader_id, cutoff_date=cutoff_date, cutoff_at=cutoff_at
                )
        except Exception:
            log.exception("could not batch a leader's orders", extra={"leader_id": leader_id})
            continue
        if batch is not None:
            touched.append(batch)
    if touched:
        log.info("delivery cut-off batched orders", extra={"batches": len(touched)})
    return CutoffResult(cutoff_date=cutoff_date, cutoff_at=cutoff_at, batches=touched)


async def delivery_cutoff_job(app: FastAPI) -> CutoffResult:
    settings: Settings = app.state.settings
    return await run_cutoff(app.state.db, tz=settings.tz, cutoff=settings.cutoff_time, now=app.state.clock())
