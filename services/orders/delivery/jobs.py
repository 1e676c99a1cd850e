"""The daily delivery cut-off, run every minute (and by ops on demand, for the latest cut-off or a chosen pickup
date): one transaction per leader, safe to repeat and to run in several processes at once (orders are claimed with a
guarded update)."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.common.db import Database
from services.orders.config import Settings
from services.orders.delivery import repository, service
from services.orders.delivery.schemas import CutoffResult, DeliveryBatchSummary

log = logging.getLogger("services.orders.delivery")


async def run_cutoff(
    db: Database, *, tz: ZoneInfo, cutoff: time, now: datetime, pickup_date: date | None = None
) -> CutoffResult:
    """Without `pickup_date`: batch every leader's orders paid before the latest cut-off at or before `now` and to
    be picked up by the next day. With it: every paid order to be picked up by that date, paid whenever."""
    cutoff_date, cutoff_at = service.latest_cutoff(now, tz, cutoff)
    paid_before: datetime | None = cutoff_at
    if pickup_date is None:
        pickup_date = cutoff_date + timedelta(days=1)
    else:
        cutoff_date, paid_before = now.astimezone(tz).date(), None
    async with db.reading() as session:
        leader_ids = await repository.leaders_with_orders_to_ship(
            session, pickup_date=pickup_date, paid_before=paid_before
        )
    touched: list[DeliveryBatchSummary] = []
    for leader_id in leader_ids:
        try:
            async with db.transaction() as session:
                batch = await service.batch_leader_orders(
                    session,
                    leader_id=leader_id,
                    cutoff_date=cutoff_date,
                    pickup_date=pickup_date,
                    paid_before=paid_before,
                )
        except Exception:
            log.exception("could not batch a leader's orders", extra={"leader_id": leader_id})
            continue
        if batch is not None:
            touched.append(batch)
    if touched:
        log.info("delivery cut-off batched orders", extra={"batches": len(touched)})
    return CutoffResult(cutoff_date=cutoff_date, cutoff_at=paid_before, pickup_date=pickup_date, batches=touched)


def cutoff_summary(result: CutoffResult) -> dict[str, object]:
    """What the audit trail keeps of a cut-off run: the dates and the batches it made or added to."""
    return {
        "cutoff_date": result.cutoff_date,
        "cutoff_at": result.cutoff_at,
        "pickup_date": result.pickup_date,
        "batches": [{"id": b.id, "leader_id": b.leader_id, "order_count": b.order_count} for b in result.batches],
    }


async def delivery_cutoff_job(app: FastAPI) -> CutoffResult:
    settings: Settings = app.state.settings
    return await run_cutoff(app.state.db, tz=settings.tz, cutoff=settings.cutoff_time, now=app.state.clock())
