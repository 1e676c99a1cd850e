"""Rebuild the read model from scratch: `python -m services.analytics.rebuild`.

Empties every table derived from events (and the inbox), then replays every event the producers ever published,
read from their outboxes (`GET /internal/outbox`, service token) page by page in outbox order.

Why the outboxes and not the NATS stream: every deployment has them (HTTP push has no stream at all), rows are
kept after delivery, and a producer's outbox order is the order its relay delivers each aggregate's events in. A
stream's retention is a broker setting nobody here controls. The outboxes must therefore never be pruned; if they
are one day, archive the rows first and replay from the archive the same way.

The producers are replayed one after the other; that is enough because no figure depends on the order of events
of different aggregates (docs/metrics.md, "Applying events"). Stop the analytics service (or its consumption)
while it runs: events keep waiting in the producers' outboxes (HTTP push retries, NATS keeps the durable
consumer's place) and flow in afterwards, where the inbox drops the ones the rebuild already applied. Tags are
analytics' own data, not derived from events, and are kept.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from pydantic import BaseModel
from sqlalchemy import delete, text

from services.analytics import models
from services.analytics.config import Settings, get_settings
from services.analytics.db import inbox, metadata
from services.analytics.ingest.repository import counters_written_together, insert_returning_new
from services.analytics.subscriptions import build_handlers
from services.common.auth import ServiceTokens, TokenSource
from services.common.clock import utcnow
from services.common.db import Database
from services.common.events.consumer import EventHandler
from services.common.events.store import Event

log = logging.getLogger("services.analytics.rebuild")


class OutboxPage(BaseModel):
    """`GET /internal/outbox` of a producer (services.common.events.wiring.OutboxPage)."""

    events: list[Event]
    next_after_seq: int | None


class OutboxSource(Protocol):
    name: str

    async def page(self, *, after_seq: int, limit: int) -> OutboxPage: ...


class HttpOutboxSource:
    def __init__(self, name: str, base_url: str, client: httpx.AsyncClient, tokens: TokenSource) -> None:
        self.name = name
        self._url = base_url.rstrip("/") + "/internal/outbox"
        self._client = client
        self._tokens = tokens

    async def page(self, *, after_seq: int, limit: int) -> OutboxPage:
        response = await self._client.get(
            self._url,
            params={"after_seq": after_seq, "limit": limit},
            headers={"Authorization": f"Bearer {await self._tokens.token()}"},
        )
        response.raise_for_status()
        return OutboxPage.model_validate_json(response.content)


@dataclass
class RebuildStats:
    read: int = 0
    applied: int = 0
    seconds: float = 0.0
    by_source: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


async def empty_read_model(db: Database) -> None:
    tables = (*models.DERIVED_TABLES, inbox.table)
    async with db.transaction() as session:
        conn = await session.connection()
        if db.is_sqlite:
            for table in tables:
                await conn.execute(delete(table))
        else:  # millions of rows: TRUNCATE frees them at once where DELETE would visit each
            await conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables)))  # our table names


async def apply_page(db: Database, handlers: Mapping[str, EventHandler], events: Sequence[Event]) -> int:
    """One transaction per page: the same inbox table and handlers as live delivery, without a commit per event.

    The page's inbox rows go in with one `INSERT … ON CONFLICT DO NOTHING RETURNING` (nothing else writes while a
    rebuild runs, so the ids it returns are the events to apply), and its counter additions are summed and written
    once per row at the end (`counters_written_together`): per event, only its facts cost round trips.
    """
    wanted = [event for event in events if event.type in handlers]
    if not wanted:
        return 0
    now = utcnow()
    rows = [{"event_id": e.id, "type": e.type, "source": e.source, "received_at": now} for e in wanted]
    applied = 0
    async with db.transaction() as session:
        conn = await session.connection()
        new = set(await insert_returning_new(conn, inbox.table, rows, key="event_id"))
        async with counters_written_together(conn):
            for event in wanted:
                if event.id not in new:
                    continue  # applied before, or twice in this page
                new.discard(event.id)
                await handlers[event.type](session, event)
                applied += 1
    return applied


async def replay(
    db: Database, sources: Sequence[OutboxSource], *, settings: Settings, page_size: int | None = None
) -> RebuildStats:
    handlers = build_handlers(settings.tz)
    limit = page_size or settings.rebuild_page_size
    stats = RebuildStats()
    started = time.perf_counter()
    for source in sources:
        after = 0
        count = 0
        while True:
            page = await source.page(after_seq=after, limit=limit)
            stats.applied += await apply_page(db, handlers, page.events)
            count += len(page.events)
            if page.next_after_seq is None:
                break
            after = page.next_after_seq
        stats.by_source[source.name] = count
        stats.read += count
        log.info("producer replayed", extra={"source": source.name, "events": count})
    stats.seconds = time.perf_counter() - started
    return stats


async def rebuild(
    db: Database, sources: Sequence[OutboxSource], *, settings: Settings, page_size: int | None = None
) -> RebuildStats:
    """Empty the read model, then replay every producer's outbox."""
    started = time.perf_counter()
    await empty_read_model(db)
    stats = await replay(db, sources, settings=settings, page_size=page_size)
    stats.seconds = time.perf_counter() - started
    return stats


async def _main(settings: Settings) -> RebuildStats:
    db = Database(settings.resolved_database_url(), metadata, pool_size=2)
    async with httpx.AsyncClient(timeout=max(settings.upstream_timeout_seconds, 30.0)) as client:
        tokens = ServiceTokens.from_settings(settings, "analytics", client=client)
        sources = [HttpOutboxSource(name, url, client, tokens) for name, url in settings.producer_urls().items()]
        try:
            return await rebuild(db, sources, settings=settings)
        finally:
            await tokens.aclose()
            await db.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    stats = asyncio.run(_main(get_settings()))
    sources = ", ".join(f"{name} {count}" for name, count in stats.by_source.items())
    print(
        f"analytics rebuilt: {stats.read} events read ({sources}), {stats.applied} applied, "
        f"{stats.seconds:.1f} s ({stats.events_per_second:.0f} events/s)"
    )


if __name__ == "__main__":
    main()
