"""Points expire: the remainder of each lot past its expiry date (a local date) becomes an `expire` entry. Each lot
expires in its own transaction with guarded updates, so several processes may run this at once, and a lot that
fails is logged and left for the next run."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.common.clock import local_date
from services.common.db import Database
from services.points.config import Settings
from services.points.ledger import repository, service

log = logging.getLogger("services.points.ledger")


async def expire_points(db: Database, *, now: datetime, tz: ZoneInfo, batch: int) -> int:
    """Expire up to `batch` lots whose date is before the local date of `now`. Returns the points expired."""
    today = local_date(now, tz)
    async with db.reading() as session:
        lot_ids = [
            lot.id for lot in await repository.due_lots(session, before=today, limit=batch) if lot.id is not None
        ]
    expired = 0
    for lot_id in lot_ids:
        try:
            async with db.transaction() as session:
                expired += await service.expire_lot(session, lot_id=lot_id, today=today, now=now)
        except Exception:
            log.exception("could not expire a lot", extra={"lot_id": lot_id})
    if expired:
        log.info("points expired", extra={"points": expired, "lots": len(lot_ids)})
    return expired


async def expiry_job(app: FastAPI) -> int:
    settings: Settings = app.state.settings
    return await expire_points(app.state.db, now=app.state.clock(), tz=settings.tz, batch=settings.job_batch_size)
