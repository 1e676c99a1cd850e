"""The flash-sale periodic jobs (wrapped with `every(...)` in create_app; tests call them directly). Each is safe to
run in several processes at once."""

from __future__ import annotations

from fastapi import FastAPI

from services.orders.flash_sales import recovery, service

#: How often the orders app looks for ended sales to close.
CLOSE_INTERVAL_SECONDS = 60.0
#: How often the orders app releases Redis reservations whose order never committed.
RECOVERY_INTERVAL_SECONDS = 30.0


async def close_job(app: FastAPI) -> int:
    """Ended sales give their unsold units back to their product."""
    return len(await service.close_ended_sales(app.state.db, app.state.flash, now=app.state.clock()))


async def recovery_job(app: FastAPI) -> int:
    """Reservations orphaned by a crash are released (a no-op without Redis)."""
    return await recovery.release_orphan_reservations(app.state.db, app.state.flash, now=app.state.clock())
