"""Holds never committed give their points back once `POINTS_HOLD_TTL_SECONDS` have passed (the order was never
paid, or its process died). Each hold is released in its own transaction with a guarded update, so several processes
may run this at once, and a hold that fails is logged and left for the next run."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import FastAPI

from services.common.db import Database
from services.points.config import Settings
from services.points.holds import repository, service

log = logging.getLogger("services.points.holds")


async def release_expired_holds(db: Database, *, now: datetime, batch: int) -> int:
    """Release up to `batch` holds expired by `now`. Returns how many were released."""
    async with db.reading() as session:
        order_ids = await repository.expired_hold_ids(session, now=now, limit=batch)
    released = 0
    for order_id in order_ids:
        try:
            async with db.transaction() as session:
                if await service.release_hold(
                    session, order_id=order_id, now=now, reason="hold expired", committed_ok=True
                ):
                    released += 1
        except Exception:
            log.exception("could not release an expired hold", extra={"order_id": order_id})
    if released:
        log.info("expired holds released", extra={"count": released})
    return released


async def expired_holds_job(app: FastAPI) -> int:
    settings: Settings = app.state.settings
    return await release_expired_holds(app.state.db, now=app.state.clock(), batch=settings.job_batch_size)
