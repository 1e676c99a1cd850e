"""After a crash: a Redis reservation whose order never committed is given back.

A purchase reserves in Redis, then writes the order in a PostgreSQL (or SQLite) transaction. If the process dies
between the two, Redis holds a reservation that no order row carries: the unit would be lost to the sale, and the
buyer's limit used up. Reservations are only ever ended by their order's cancellation or by a release, so a
reservation older than `grace_seconds` (far longer than any purchase transaction) without an order row is such an
orphan: this step releases it (idempotent by token, like every release). The reverse cannot happen: an order row
only commits after its reservation was made.

Run every `RECOVERY_INTERVAL_SECONDS` by a background job of the orders app (`jobs.recovery_job`, first right after
a start, i.e. after the crash) and on demand (tests, ops), never from the purchase path.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from services.common.db import Database
from services.orders.flash_sales import repository
from services.orders.flash_sales.runtime import FlashRuntime

log = logging.getLogger("services.orders.flash")

DEFAULT_GRACE_SECONDS = 120.0
#: Tokens looked up in the database per statement (bounds the IN list).
LOOKUP_CHUNK = 1000


async def release_orphan_reservations(
    db: Database, flash: FlashRuntime, *, now: datetime, grace_seconds: float = DEFAULT_GRACE_SECONDS
) -> int:
    """Release the reservations of recent sales that have no order after `grace_seconds`. Returns how many.

    Each pass looks only at reservations made since the previous pass's cut-off (the first pass of a process, at
    all of them): a reservation with an order keeps it, so checking it again every 30 s would cost a database
    lookup per unit sold, for ever, and blocked the event loop for long enough to show in the flash latency.
    """
    redis = flash.inventory.redis
    if redis is None:
        return 0
    # Tokens carry the wall-clock time they were made at (`redis_stock.new_token`).
    cutoff_ms = int(time.time() * 1000) - int(grace_seconds * 1000)
    released = 0
    async with db.reading() as session:
        # Sales still open, or ended recently enough that a reservation made at their end may be orphaned.
        sale_ids = await repository.sale_ids_ending_after(session, now - timedelta(seconds=grace_seconds))
    for sale_id in sale_ids:
        checked_before = flash.recovery_checked_before_ms.get(sale_id, 0)
        if cutoff_ms <= checked_before:
            continue
        old = await redis.reservation_tokens(sale_id, made_from_ms=checked_before, made_before_ms=cutoff_ms)
        with_order: set[str] = set()
        for start in range(0, len(old), LOOKUP_CHUNK):
            async with db.reading() as session:
                with_order |= await repository.tokens_with_orders(session, old[start : start + LOOKUP_CHUNK])
        orphans = [t for t in old if t not in with_order]
        if orphans:
            count = await flash.inventory.release(sale_id, orphans)
            if count:
                log.warning("released orphan flash-sale reservations", extra={"sale_id": sale_id, "count": count})
            released += count
        flash.recovery_checked_before_ms[sale_id] = cutoff_ms
    return released
