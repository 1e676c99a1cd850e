"""Work functions of the periodic jobs (wrapped with `every(...)` in create_app; tests call them directly).

Each is safe to run in several processes at once: every effect is a guarded update or a unique key.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from services.common.clock import utcnow
from services.common.db import Database
from services.orders.config import Settings
from services.orders.delivery import service as delivery_service
from services.orders.inventory.service import Inventory
from services.orders.orders import repository as orders_repository
from services.orders.orders import service as orders_service
from services.orders.payments import service as payments_service
from services.orders.payments.schemas import RefundRunResult

log = logging.getLogger("services.orders.jobs")


async def cancel_expired_orders(db: Database, inventory: Inventory, *, batch: int) -> int:
    """Cancel orders whose payment time ran out, one transaction each. Returns how many this run cancelled."""
    async with db.sessionmaker() as session:
        order_ids = await orders_repository.expired_unpaid_order_ids(session, now=utcnow(), limit=batch)
    cancelled = 0
    for order_id in order_ids:
        try:
            async with db.sessionmaker() as session, session.begin():
                if await orders_service.cancel_unpaid(
                    session,
                    order_id=order_id,
                    actor=orders_service.SYSTEM,
                    reason="payment_timeout",
                    inventory=inventory,
                ):
                    cancelled += 1
        except Exception:
            log.exception("could not cancel an expired order", extra={"order_id": order_id})
    if cancelled:
        log.info("expired unpaid orders cancelled", extra={"count": cancelled})
    return cancelled


async def payment_timeout_job(app: FastAPI) -> int:
    settings: Settings = app.state.settings
    return await cancel_expired_orders(app.state.db, app.state.inventory, batch=settings.payment_timeout_batch)


async def abandoned_holds_job(app: FastAPI) -> int:
    """Releases of points held for orders that failed, recorded when they could not be sent at the time."""
    return await orders_service.release_abandoned_holds(app.state.db, app.state.points)


async def orphan_holds_job(app: FastAPI) -> int:
    """Points held for orders a dead process never committed (nothing was recorded: ask the points service)."""
    settings: Settings = app.state.settings
    return await orders_service.release_orphan_holds(
        app.state.db, app.state.points, grace_seconds=settings.orphan_hold_grace_seconds
    )


async def refund_sender_job(app: FastAPI) -> RefundRunResult:
    return await payments_service.send_pending_refunds(app.state.db, app.state.refund_provider)


async def delivery_cutoff_job(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    result = await delivery_service.run_cutoff(app.state.db, tz=settings.tz, cutoff=settings.cutoff_time)
    if result.batches:
        log.info("delivery cut-off batched orders", extra={"batches": len(result.batches)})
