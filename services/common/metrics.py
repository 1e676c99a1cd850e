"""Prometheus metrics: one registry per process, or per machine in multi-process mode.

With several worker processes behind one port (uvicorn `--workers`, gunicorn), set `PROMETHEUS_MULTIPROC_DIR` to an
empty directory before the processes start: prometheus-client then keeps every process's values in files there and
`/metrics` (answered by whichever worker gets the scrape) adds them up. Without it, each process reports its own.

Figures that live in the database (outbox backlog, dead letters) are read when `/metrics` is scraped, by the
refreshers a service registers, so no job polls the database for a scrape that may never come.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Table, event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.pool import QueuePool

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Latency buckets from 1 ms to 10 s: a flash-sale purchase lives in the low milliseconds, a statement CSV in seconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, by route template (not the raw path, which would explode the series) and status",
    ["service", "method", "route", "status"],
    buckets=_BUCKETS,
)
UPSTREAM_SECONDS = Histogram(
    "gateway_upstream_duration_seconds",
    "Gateway: time until a service's response headers arrived (or the hop failed), by service and status",
    ["upstream", "status"],
    buckets=_BUCKETS,
)
FLASH_SALE_OUTCOMES = Counter(
    "flash_sale_purchases_total",
    "Flash-sale purchase attempts by outcome: sold, sold_out, limit, not_active, other",
    ["outcome"],
)
LEDGER_ENTRIES = Counter(
    "ledger_entries_written_total", "Ledger entries written, by ledger and entry kind", ["ledger", "kind"]
)
# Database figures are read at scrape time; across processes the freshest value is the truth.
OUTBOX_PENDING = Gauge(
    "outbox_pending_events", "Events in the outbox not yet delivered", ["service"], multiprocess_mode="livemostrecent"
)
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_pending_age_seconds",
    "Age of the oldest event waiting in the outbox (0 when none waits)",
    ["service"],
    multiprocess_mode="livemostrecent",
)
OUTBOX_DEAD = Gauge(
    "outbox_dead_letters",
    "Events parked after too many failed deliveries",
    ["service"],
    multiprocess_mode="livemostrecent",
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use", "Database connections checked out of this process's pool", ["service"],
    multiprocess_mode="livesum",
)  # fmt: skip

Refresher = Callable[[], Awaitable[None]]


def count_flash_sale_outcome(outcome: str) -> None:
    """One flash-sale purchase attempt: sold, sold_out, limit, not_active or other."""
    FLASH_SALE_OUTCOMES.labels(outcome).inc()


_LEDGER_KEY = "metrics.ledger_entries"
_counted_models: dict[type, str] = {}


def count_ledger_entries(model: type, ledger: str) -> None:
    """Count the rows of `model` (a ledger entry with a `kind`) that sessions of this process commit, by kind.

    Counted at commit, not when written: an entry whose transaction rolls back (a retried request, a concurrent
    update that lost) was never written. Safe to call again for the same model (an app built twice in one process).
    """
    first = not _counted_models
    _counted_models[model] = ledger
    if not first:
        return

    @event.listens_for(Session, "after_flush")
    def collect(session: Session, _flush: UOWTransaction) -> None:
        # After a flush the session still lists what it inserted as new.
        for row in session.new:
            name = _counted_models.get(type(row))
            if name is not None:
                session.info.setdefault(_LEDGER_KEY, []).append((name, str(getattr(row, "kind", ""))))

    @event.listens_for(Session, "after_commit")
    def count(session: Session) -> None:
        for name, kind in session.info.pop(_LEDGER_KEY, ()):
            LEDGER_ENTRIES.labels(name, kind).inc()

    @event.listens_for(Session, "after_rollback")
    def forget(session: Session) -> None:
        session.info.pop(_LEDGER_KEY, None)


def exposition(refreshed: Sequence[Refresher] = ()) -> Callable[[], Awaitable[bytes]]:
    """The body of `/metrics`: run the refreshers, then render every metric (of every process in multi-process
    mode). A refresher that fails leaves its gauges at their last value rather than failing the scrape."""

    async def render() -> bytes:
        for refresh in refreshed:
            try:
                await refresh()
            except Exception:  # noqa: S112 - a scrape must answer even when the database does not
                continue
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(REGISTRY)

    return render


def outbox_refresher(service: str, engine: AsyncEngine, outbox: Table) -> Refresher:
    """Backlog, age of the oldest waiting event and dead letters of a service's outbox (both read through the
    outbox's (status, seq) index, never a scan of delivered events)."""

    async def refresh() -> None:
        async with engine.connect() as conn:
            pending, oldest = (
                await conn.execute(
                    select(func.count(), func.min(outbox.c.occurred_at)).where(outbox.c.status == "pending")
                )
            ).one()
            dead = (await conn.execute(select(func.count()).where(outbox.c.status == "dead"))).scalar_one()
        OUTBOX_PENDING.labels(service).set(pending)
        age = 0.0
        if oldest is not None:
            age = max(0.0, time.time() - oldest.timestamp())
        OUTBOX_OLDEST_AGE.labels(service).set(age)
        OUTBOX_DEAD.labels(service).set(dead)

    return refresh


def pool_refresher(service: str, engine: AsyncEngine) -> Refresher:
    async def refresh() -> None:
        pool = engine.sync_engine.pool
        if isinstance(pool, QueuePool):
            DB_POOL_IN_USE.labels(service).set(pool.checkedout())

    return refresh
