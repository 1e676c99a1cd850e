"""After a crash: a Redis reservation whose order never committed is given back.

A purchase reserves in Redis, then writes the order in a PostgreSQL (or SQLite) transaction. If the process dies
between the two, Redis holds a reservation that no order row carries: the unit would be lost to the sale, and the
buyer's limit used up. Reservations are only ever ended by their order's cancellation or by a release, so a
reservation older than `grace_seconds` (far longer than any purchase transaction) without an order row is such an
orphan: this step releases it (idempotent by token, like every release). The reverse cannot happen: an order row
only commits after its reservation was made.

Run every `RECOVERY_INTERVAL_SECONDS` by a background job of the orders app (`recovery_job`, first right after a
start, i.e. after the crash) and on demand (tests, ops). It used to be scheduled from the purchase path, which put a
clock read and a task check on every purchase; a job costs the hot path nothing.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from fastapi import FastAPI
from sqlmodel import col, select

from services.common.clock import utcnow
from services.common.db import Database
from services.orders.flash_sales.models import FlashSale
from services.orders.flash_sales.stock import FlashRuntime, token_age_seconds
from services.orders.orders.models import Order

log = logging.getLogger("services.orders.flash")

DEFAULT_GRACE_SECONDS = 120.0
#: How often the orders app runs the recovery (`services/orders/app.py`).
RECOVERY_INTERVAL_SECONDS = 30.0


async def release_orphan_reservations(
    db: Database, flash: FlashRuntime, *, grace_seconds: float = DEFAULT_GRACE_SECONDS
) -> int:
    """Release the reservations of recent sales that have no order after `grace_seconds`. Returns how many."""
    if flash.redis is None:
        return 0
    now = utcnow()
    now_ms = int(time.time() * 1000)
    released = 0
    async with db.read_sessionmaker() as session:
        # Sales still open, or ended recently enough that a reservation made at their end may be orphaned.
        query = select(FlashSale.id).where(col(FlashSale.ends_at) > now - timedelta(seconds=grace_seconds))
        sale_ids = (await session.exec(query)).all()
    for sale_id in sale_ids:
        if sale_id is None:
            continue
        tokens = await flash.redis.reservation_tokens(sale_id)
        old = [t for t in tokens if (age := token_age_seconds(t, now_ms)) is not None and age > grace_seconds]
        if not old:
            continue
        async with db.read_sessionmaker() as session:
            found = await session.exec(select(Order.flash_reservation).where(col(Order.flash_reservation).in_(old)))
            with_order = set(found.all())
        orphans = [t for t in old if t not in with_order]
        if orphans:
            count = await flash.redis.release_many(sale_id=sale_id, tokens=orphans)
            if count:
                flash.clear_sold_out(sale_id)
                log.warning("released orphan flash-sale reservations", extra={"sale_id": sale_id, "count": count})
            released += count
    return released


async def recovery_job(app: FastAPI) -> None:
    """The periodic job (`every(RECOVERY_INTERVAL_SECONDS, recovery_job)`); a no-op without Redis."""
    await release_orphan_reservations(app.state.db, app.state.flash)
