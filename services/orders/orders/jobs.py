"""The orders' periodic work: cancel orders whose payment time ran out, and give back points held for orders that
failed or never committed.

Each run reads what is due, then handles every item in its own transaction through a service function, so several
processes may run these at once (every effect is a guarded update) and one failing item is logged and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from fastapi import FastAPI

from services.common.db import Database
from services.orders.clients import PointsClient, PointsTimeout, PointsUnavailable
from services.orders.config import Settings
from services.orders.inventory.service import Inventory
from services.orders.orders import repository, service
from services.orders.orders.models import OrderCancelReason

log = logging.getLogger("services.orders.jobs")


async def cancel_expired_orders(
    db: Database,
    inventory: Inventory,
    *,
    now: datetime,
    batch: int,
    may_cancel: Callable[[int], Awaitable[bool]] | None = None,
) -> int:
    """Cancel orders whose payment time ran out by `now`. Returns how many this run cancelled.

    `may_cancel(order_id)` is asked first (payments asks the provider whether the order was paid after all)."""
    async with db.reading() as session:
        order_ids = await repository.expired_unpaid_order_ids(session, now=now, limit=batch)
    cancelled = 0
    for order_id in order_ids:
        try:
            if may_cancel is not None and not await may_cancel(order_id):
                continue
            async with db.transaction() as session:
                if await service.cancel_unpaid(
                    session,
                    order_id=order_id,
                    actor=service.SYSTEM,
                    reason=OrderCancelReason.PAYMENT_TIMEOUT,
                    inventory=inventory,
                    now=now,
                ):
                    cancelled += 1
        except Exception:
            log.exception("could not cancel an expired order", extra={"order_id": order_id})
    if cancelled:
        log.info("expired unpaid orders cancelled", extra={"count": cancelled})
    return cancelled


async def release_abandoned_holds(db: Database, points: PointsClient, *, batch: int = 100) -> int:
    """Send the hold releases that could not be sent when their order failed. Returns how many landed."""
    async with db.reading() as session:
        order_ids = [hold.order_id for hold in await repository.abandoned_holds(session, limit=batch)]
    released = 0
    for order_id in order_ids:
        try:
            async with db.transaction() as session:
                released += await service.release_abandoned_hold(session, order_id=order_id, points=points)
        except Exception:
            log.exception("could not release an abandoned points hold", extra={"order_id": order_id})
    return released


async def release_orphan_holds(
    db: Database, points: PointsClient, *, now: datetime, grace_seconds: float, batch: int = 200
) -> int:
    """Release holds older than `grace_seconds` whose order does not exist. The grace (far longer than any request)
    keeps orders still being placed safe. Returns how many were released."""
    try:
        waiting = await points.waiting_holds(created_before=now - timedelta(seconds=grace_seconds), limit=batch)
    except (PointsUnavailable, PointsTimeout):
        return 0  # asked again on the next run
    released = 0
    for order_id in waiting:
        try:
            async with db.reading() as session:
                released += await service.release_orphan_hold(session, order_id=order_id, points=points)
        except (PointsUnavailable, PointsTimeout):
            break  # the points service is away: ask again on the next run
        except Exception:
            log.exception("could not release an orphan points hold", extra={"order_id": order_id})
    if released:
        log.warning("released points held for orders that never committed", extra={"count": released})
    return released


async def payment_timeout_job(app: FastAPI) -> int:
    """Cancel without asking the payment provider. The app schedules payments' `payment_timeout_job` instead, which
    asks the provider first (`services.orders.payments.jobs`); this one stays for orders that never had a prepay."""
    settings: Settings = app.state.settings
    return await cancel_expired_orders(
        app.state.db, app.state.inventory, now=app.state.clock(), batch=settings.payment_timeout_batch
    )


async def abandoned_holds_job(app: FastAPI) -> int:
    """Releases of points held for orders that failed, recorded when they could not be sent at the time."""
    return await release_abandoned_holds(app.state.db, app.state.points)


async def orphan_holds_job(app: FastAPI) -> int:
    """Points held for orders a dead process never committed (nothing was recorded: ask the points service)."""
    settings: Settings = app.state.settings
    return await release_orphan_holds(
        app.state.db, app.state.points, now=app.state.clock(), grace_seconds=settings.orphan_hold_grace_seconds
    )
