"""Domain events between services: a transactional outbox on the producing side, an inbox on the consuming side.

The producer writes the event row in the same transaction as the change it describes (`Outbox.record`), so an event
exists if and only if the change committed. A relay delivers pending rows at least once. The consumer applies the
effect and `Inbox.accept`s the event id in one transaction; a redelivered event finds its id already there and is
acknowledged without effect. Together: every effect exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.bulk import Bulk
from services.common.clock import utcnow
from services.common.db import UTCDateTime

OUTBOX_TABLE = "outbox"
INBOX_TABLE = "inbox"
#: SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class Event(BaseModel):
    """The envelope every event travels in (CONTRACT.md)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=100)
    occurred_at: datetime
    source: str = Field(min_length=1, max_length=50)
    aggregate: str = Field(default="", max_length=100, description="Events of one aggregate are applied in order")
    data: dict[str, Any]


def outbox_table(metadata: MetaData) -> Table:
    if OUTBOX_TABLE in metadata.tables:
        return metadata.tables[OUTBOX_TABLE]
    return Table(
        OUTBOX_TABLE,
        metadata,
        Column("seq", _SEQ_TYPE, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False),
        Column("type", String(100), nullable=False),
        Column("aggregate", String(100), nullable=False),
        Column("occurred_at", UTCDateTime, nullable=False),
        Column("data", JSON, nullable=False),
        Column("status", String(16), nullable=False, server_default="pending"),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("next_attempt_at", UTCDateTime, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("delivered_at", UTCDateTime, nullable=True),
        UniqueConstraint("event_id"),
        Index("ix_outbox_status_seq", "status", "seq"),
        # The relay's checks for a dead or not-yet-due event of a candidate's aggregate (Relay.due_query).
        Index("ix_outbox_aggregate_status_next_attempt_at", "aggregate", "status", "next_attempt_at"),
    )


def inbox_table(metadata: MetaData) -> Table:
    if INBOX_TABLE in metadata.tables:
        return metadata.tables[INBOX_TABLE]
    return Table(
        INBOX_TABLE,
        metadata,
        Column("event_id", String(64), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("source", String(50), nullable=False),
        Column("received_at", UTCDateTime, nullable=False),
    )


class Outbox:
    """The producing side of one service."""

    def __init__(self, metadata: MetaData, *, source: str) -> None:
        self.table = outbox_table(metadata)
        self.source = source
        # One statement object naming the columns written (the others keep their server defaults), so a bulk
        # connection compiles it once per process.
        self._insert = self.table.insert().values(
            {
                name: bindparam(name)
                for name in ("event_id", "type", "aggregate", "occurred_at", "data", "status", "attempts")
            }
        )

    async def record(self, session: AsyncSession, *, type: str, aggregate: str, data: dict[str, Any]) -> Event:
        """Write the event in the caller's transaction; it is delivered only if that transaction commits."""
        event = Event(
            id=str(uuid.uuid4()), type=type, occurred_at=utcnow(), source=self.source, aggregate=aggregate, data=data
        )
        await session.exec(
            self.table.insert().values(
                event_id=event.id,
                type=event.type,
                aggregate=aggregate,
                occurred_at=event.occurred_at,
                data=data,
                status="pending",
                attempts=0,
            )
        )
        return event

    async def record_many(self, bulk: Bulk, events: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Write many events (type, aggregate, data) in the bulk connection's transaction, in one round trip."""
        now = utcnow()
        await bulk.execute(
            self._insert,
            [
                {"event_id": str(uuid.uuid4()), "type": type_, "aggregate": aggregate, "occurred_at": now,
                 "data": data, "status": "pending", "attempts": 0}
                for type_, aggregate, data in events
            ],
        )  # fmt: skip

    async def redact(self, session: AsyncSession, *, aggregate: str, replacements: dict[str, Any]) -> int:
        """Overwrite fields of the aggregate's recorded events (a person's erasure): an event keeps its id, type and
        every other field, so a read model rebuilt from the outbox still adds up; returns how many rows changed.

        The rewrite happens in Python (JSON functions differ between SQLite and PostgreSQL); one aggregate has few
        events."""
        conn = await session.connection()
        query = select(self.table.c.seq, self.table.c.data).where(self.table.c.aggregate == aggregate)
        rows = (await conn.execute(query)).all()
        changed = 0
        for seq, data in rows:
            if not isinstance(data, dict) or not any(key in data for key in replacements):
                continue
            redacted = {**data, **{key: value for key, value in replacements.items() if key in data}}
            await session.exec(update(self.table).where(self.table.c.seq == seq).values(data=redacted))
            changed += 1
        return changed


class Inbox:
    """The consuming side of one service."""

    def __init__(self, metadata: MetaData) -> None:
        self.table = inbox_table(metadata)

    async def accept(self, session: AsyncSession, event: Event) -> bool:
        """Record the event id in the caller's transaction. False means it was applied before: do nothing."""
        try:
            async with session.begin_nested():
                await session.exec(
                    self.table.insert().values(
                        event_id=event.id, type=event.type, source=event.source, received_at=utcnow()
                    )
                )
        except IntegrityError:
            return False
        return True
