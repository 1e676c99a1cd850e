"""Periodic work of the points service: release holds never committed, expire lots past their date.

Each item is handled in its own short transaction with guarded updates, so several processes may run these at
once and a failure on one row does not hold back the rest.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import FastAPI

from services.common.clock import Clock, local_date
from services.common.db import Database
from services.points.config import Settings
from services.points.holds import repository as holds_repository
from services.points.holds.service import release_hold
from services.points.ledger import repository as ledger_repository
from services.points.ledger.service import expire_lot

log = logging.getLogger("services.points.jobs")


def _context(app: FastAPI) -> tuple[Database, Settings, datetime]:
    clock: Clock = app.state.clock
    return app.state.db, app.state.settings, clock()


async def release_expired_holds(app: FastAPI) -> int:
    """Holds older than POINTS_HOLD_TTL_SECONDS whose order was never paid give their points back."""
    db, settings, now = _context(app)
    async with db.sessionmaker() as session:
        order_ids = await holds_repository.expired_hold_ids(session, now=now, limit=settings.job_batch_size)
    released = 0
    for order_id in order_ids:
        async with db.sessionmaker() as session, session.begin():
            if await release_hold(session, order_id=order_id, now=now, reason="hold expired", committed_ok=True):
                released += 1
    if released:
        log.info("expired holds released", extra={"count": released})
    return released


async def expire_points(app: FastAPI) -> int:
    """Remainders of lots past their expiry date become `expire` entries."""
    db, settings, now = _context(app)
    today = local_date(now, settings.tz)
    async with db.sessionmaker() as session:
        lots = await ledger_repository.due_lots(session, before=today, limit=settings.job_batch_size)
        lot_ids = [lot.id for lot in lots if lot.id is not None]
    expired = 0
    for lot_id in lot_ids:
        async with db.sessionmaker() as session, session.begin():
            expired += await expire_lot(session, lot_id=lot_id, today=today, now=now)
    if expired:
        log.info("points expired", extra={"points": expired, "lots": len(lot_ids)})
    return expired
