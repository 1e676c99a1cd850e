"""The outbox relay: delivers a service's pending events to the bus, in order per aggregate, at least once.

Runs inside each service (the embedded default, a background job) or as its own process at scale:

    python -m services.common.events.relay orders      # with EVENTS_RELAY_IN_PROCESS=false in the service itself

Rules:
- Events of one aggregate (one order) are published in `seq` order; a later event waits while an earlier one is
  failing, waiting for its retry, or parked as a dead letter (replaying it unblocks the rest). Different
  aggregates are published concurrently, and one held back never delays another: a run reads only events that are
  due and whose aggregate is not held back. An event without an aggregate is ordered with nothing.
- A failed publish is retried with exponential backoff; after `max_attempts` failures the event is parked as
  `dead` for ops to inspect and replay.
- On PostgreSQL one relay per database works at a time (an advisory lock), so several processes running the relay
  never reorder an aggregate's events. A crash between publish and "mark delivered" republishes: the consumers'
  inboxes make that harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, Table, exists, func, or_, select, text, update

from services.common.clock import as_utc, utcnow
from services.common.crashpoints import crash_point
from services.common.db import Database
from services.common.events.bus import EventBus, PublishFailed
from services.common.events.store import Event
from services.common.jobs import sleep_unless_stopping

log = logging.getLogger("services.events.relay")

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass
class RelayStats:
    """What one run did with the events it read (only due ones are read)."""

    delivered: int = 0
    #: Failed and scheduled for a retry.
    retried: int = 0
    #: Failed for the last allowed time and parked as dead letters.
    dead: int = 0
    #: Read but not published: behind an earlier event of the same aggregate that failed in this run.
    waiting: int = 0
    errors: list[str] = field(default_factory=list)


def backoff_seconds(attempts: int, *, base: float, cap: float) -> float:
    """Delay before retry number `attempts` (1, 2, 4, 8 ... times `base`, at most `cap`)."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


class Relay:
    def __init__(
        self,
        db: Database,
        outbox_table: Table,
        bus: EventBus,
        *,
        source: str,
        max_attempts: int = 10,
        batch_size: int = 200,
        base_delay_seconds: float = 0.5,
        max_delay_seconds: float = 60.0,
    ) -> None:
        self.db = db
        self.table = outbox_table
        self.bus = bus
        self.source = source
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.base_delay = base_delay_seconds
        self.max_delay = max_delay_seconds
        # Stable across processes (Python's hash() is salted per process).
        self._lock_key = zlib.crc32(f"outbox-relay:{source}".encode())

    async def run_once(self) -> RelayStats:
        """Deliver what is due now; returns what happened. Safe to call from several processes."""
        if self.db.is_sqlite:
            return await self._deliver_batch()
        async with self.db.engine.connect() as lock_conn:
            got = (await lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._lock_key})).scalar()
            if not got:
                return RelayStats()
            try:
                return await self._deliver_batch()
            finally:
                await lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._lock_key})
                await lock_conn.commit()

    async def run_forever(self, poll_seconds: float, stopping: asyncio.Event | None = None) -> None:
        """Deliver until `stopping` is set; a batch being delivered then is finished first."""
        stopping = stopping or asyncio.Event()
        while not stopping.is_set():
            try:
                stats = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay run failed", extra={"source": self.source})
                stats = RelayStats()
            # A full batch means more may be due: go again at once (what this run held back is not read again).
            if stats.delivered + stats.retried + stats.dead + stats.waiting < self.batch_size:
                await sleep_unless_stopping(stopping, poll_seconds)

    def due_query(self, now: datetime) -> Select[Any]:
        """The first `batch_size` pending events that are due and whose aggregate is not held back, in `seq` order.

        An aggregate is held back while one of its events is dead or waiting for its retry, so a later event never
        overtakes an earlier one; an event without an aggregate ("") is held back only by its own retry. Filtering
        here rather than after reading is what lets a batch reach past a backlog that is all held back (a subscriber
        down) to the events that can go now.

        The two checks look each candidate's aggregate up in `ix_outbox_aggregate_status_next_attempt_at`, so a run
        reads about as many rows as it passes over in `seq` order rather than every pending and dead row (with most of
        a large backlog held back, PostgreSQL may instead hash the held-back rows once per run)."""
        t = self.table
        dead = t.alias("dead")
        waiting = t.alias("waiting")
        return (
            select(t)
            .where(
                t.c.status == PENDING,
                or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now),
                # Two checks, not one with an OR, so each is a single range of the (aggregate, status, ...) index.
                ~exists().where(dead.c.aggregate == t.c.aggregate, dead.c.aggregate != "", dead.c.status == DEAD),
                ~exists().where(
                    waiting.c.aggregate == t.c.aggregate,
                    waiting.c.aggregate != "",
                    waiting.c.status == PENDING,
                    waiting.c.next_attempt_at > now,
                ),
            )
            .order_by(t.c.seq)
            .limit(self.batch_size)
        )

    async def _deliver_batch(self) -> RelayStats:
        t = self.table
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(self.due_query(utcnow()))).all()
        if not rows:
            return RelayStats()

        chains: dict[str, list[Row[Any]]] = {}
        for row in rows:
            # An event without an aggregate is ordered with nothing: its own chain.
            chains.setdefault(row.aggregate or f"event:{row.event_id}", []).append(row)

        stats = RelayStats()
        crash_point("relay.before_publish")
        outcomes = await asyncio.gather(*(self._publish_chain(chain, stats) for chain in chains.values()))
        delivered = [seq for chain_delivered, _ in outcomes for seq in chain_delivered]
        failures = [failure for _, failure in outcomes if failure is not None]

        if delivered:
            crash_point("relay.after_publish")
        now = utcnow()
        async with self.db.engine.begin() as conn:
            if delivered:
                await conn.execute(
                    update(t)
                    .where(t.c.seq.in_(delivered), t.c.status == PENDING)
                    .values(status=DELIVERED, delivered_at=now, last_error=None)
                )
            for row, error in failures:
                attempts = row.attempts + 1
                if attempts >= self.max_attempts:
                    values: dict[str, Any] = {"status": DEAD, "attempts": attempts, "last_error": error}
                    stats.dead += 1
                    log.error(
                        "event parked as dead letter",
                        extra={"event_id": row.event_id, "event_type": row.type, "error": error},
                    )
                else:
                    delay = backoff_seconds(attempts, base=self.base_delay, cap=self.max_delay)
                    values = {
                        "attempts": attempts,
                        "last_error": error,
                        "next_attempt_at": now + timedelta(seconds=delay),
                    }
                    stats.retried += 1
                await conn.execute(update(t).where(t.c.seq == row.seq, t.c.status == PENDING).values(**values))
        stats.delivered = len(delivered)
        return stats

    async def _publish_chain(
        self, chain: Sequence[Row[Any]], stats: RelayStats
    ) -> tuple[list[int], tuple[Row[Any], str] | None]:
        """Publish one aggregate's events in order; stop at the first that fails (the query read only due ones)."""
        delivered: list[int] = []
        for row in chain:
            try:
                await self.bus.publish(row_to_event(row, self.source))
            except PublishFailed as exc:
                stats.errors.append(str(exc))
                # The events after it stay pending, held back by its retry (or dead letter) from the next run on.
                stats.waiting += len(chain) - len(delivered) - 1
                return delivered, (row, str(exc)[:1000])
            delivered.append(row.seq)
        return delivered, None


def row_to_event(row: Row[Any], source: str) -> Event:
    return Event(
        id=row.event_id,
        type=row.type,
        occurred_at=as_utc(row.occurred_at),
        source=source,
        aggregate=row.aggregate,
        data=row.data,
    )


async def outbox_counts(db: Database, table: Table) -> dict[str, int]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(table.c.status, func.count()).group_by(table.c.status))).all()
    counts = {PENDING: 0, DELIVERED: 0, DEAD: 0}
    counts.update({status: int(n) for status, n in rows})
    return counts


async def _main(service: str) -> None:
    import importlib

    from services.common.auth import ServiceTokens
    from services.common.events.bus import build_bus
    from services.common.migrate import service_settings
    from services.common.observability import configure_logging
    from services.common.production import ensure_service_production_ready

    settings = service_settings(service)
    # A relay holds the service's secret and speaks for it: production refuses it on the same settings.
    ensure_service_production_ready(service, settings)
    configure_logging(f"{service}-relay", settings.log_level, settings.log_json)
    service_db = importlib.import_module(f"services.{service}.db")
    db = Database(settings.resolved_database_url(), service_db.metadata)
    tokens = ServiceTokens.from_settings(settings, service)
    bus = build_bus(settings, tokens=tokens)
    relay = Relay(db, service_db.outbox.table, bus, source=service, max_attempts=settings.events_max_attempts)
    log.info("outbox relay started", extra={"source": service})
    # SIGTERM (a deployment, `kill`): the batch being delivered is finished, then the process exits.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await relay.run_forever(settings.events_poll_seconds, stopping)
    finally:
        await bus.aclose()
        await tokens.aclose()
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Deliver a service's outbox to the event bus")
    from services.common.migrate import SERVICES

    parser.add_argument("service", choices=SERVICES)
    args = parser.parse_args(argv)
    from services.common.production import ProductionSettingsError

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_main(args.service))
    except ProductionSettingsError as refused:
        raise SystemExit(str(refused)) from None


if __name__ == "__main__":
    main()
