"""Per-service database: async engine, sessions, and the request-scoped session dependency.

Each service declares its tables on its own SQLModel base (`make_base()`), so tables of two services never share a
metadata and never collide. The session dependency commits *before* the response is sent (FastAPI's
`scope="function"`), so a 2xx always means the change is durable; any exception rolls the transaction back, except a
`DomainError` with `keeps_writes` (see `services.common.errors.DomainError`), whose writes are committed before it
is rendered. Jobs and scripts write through `Database.transaction()` and read through `Database.reading()`, which
follow the same rule; nothing else opens a session.
"""

from __future__ import annotations

import functools
import sqlite3
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import aiosqlite
from fastapi import Depends, Request
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import utcnow
from services.common.crashpoints import crash_point
from services.common.errors import DomainError

# Constraint names are explicit so migrations are identical on SQLite and PostgreSQL and `alembic check` is stable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: Marks the metadata of our services, whose integer id columns are all 64-bit (see `_ids_are_64_bit`).
_WIDE_IDS = "groupbuy.wide_ids"


def new_registry() -> registry:
    """A registry with its own metadata, one per service: `class OrdersBase(SQLModel, registry=new_registry())`."""
    return registry(metadata=MetaData(naming_convention=NAMING_CONVENTION, info={_WIDE_IDS: True}))


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class _InLoopSqliteConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the event loop's thread instead of its worker thread.

    Only for the read engine: in WAL mode a read transaction never waits for a lock, and a read by key takes
    microseconds, while handing each call to the worker thread and back (about 18 hand-overs per request, each a
    GIL switch under load) cost more than the queries. Measured with bench.gateway on GET of a product (one worker,
    32 in flight): 3.35 ms → 1.58 ms of CPU per request, 317 → 655 requests/s. Writers keep the worker thread:
    BEGIN IMMEDIATE may wait for another writer, which must not stall the event loop.
    `_execute` is aiosqlite's own dispatch point (pinned to the 0.22 line in pyproject.toml for that reason).
    """

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def create_engine(url: str, *, pool_size: int = 10, read_only: bool = False) -> AsyncEngine:
    """The service's engine; on SQLite, `read_only` gives the engine of the GET requests (see `_configure_sqlite`)."""
    if is_sqlite(url):
        if read_only:
            database = make_url(url).database or ""

            async def in_loop_connection() -> aiosqlite.Connection:
                connect = functools.partial(sqlite3.connect, database, timeout=30, check_same_thread=False)
                conn = _InLoopSqliteConnection(connect, iter_chunk_size=64)
                conn._thread.daemon = True  # it only opens and closes the connection; never keep the process up
                return await conn

            engine = create_async_engine(url, async_creator=in_loop_connection, hide_parameters=True)
        else:
            engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine, "DEFERRED" if read_only else "IMMEDIATE")
        return engine
    # hide_parameters: a failed statement's error (and so any log line quoting it) never carries the values, which
    # can be phone numbers, names or tokens.
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, hide_parameters=True
    )


def _configure_sqlite(engine: AsyncEngine, begin: str) -> None:
    # pysqlite's own transaction handling defers BEGIN until the first write, which lets two transactions read the
    # same row and then race to upgrade their locks. We take over: every writing transaction starts with
    # BEGIN IMMEDIATE, so writers are serialised up front and guarded updates behave as they do on PostgreSQL.
    # Read-only requests use a second engine whose transactions BEGIN DEFERRED: in WAL mode they read a snapshot
    # without waiting for, or blocking, the writers (IMMEDIATE for them serialised every GET behind every write).
    statement = f"BEGIN {begin}"

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if begin == "DEFERRED":
            # The read engine's connections run on the event loop: a write there could wait for the write lock and
            # stall the loop, so SQLite refuses them outright.
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(statement)


class Database:
    """Engine and session factory of one service, created by `create_app` and kept on `app.state.db`."""

    def __init__(self, url: str, metadata: MetaData, *, pool_size: int = 10) -> None:
        self.url = url
        self.metadata = metadata
        self.engine = create_engine(url, pool_size=pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # Sessions for requests that only read (GET, HEAD). On PostgreSQL they are the same as the writing ones.
        self.read_engine = create_engine(url, read_only=True) if self.is_sqlite else self.engine
        self.read_sessionmaker = async_sessionmaker(self.read_engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """The one way jobs and scripts write: a session whose transaction commits when the block ends normally and
        rolls back when it raises, except for a `DomainError` with `keeps_writes`, which is committed and re-raised.
        (Requests get theirs from `SessionDep`, which follows the same rule and commits before the response.)"""
        async with _committed(self.sessionmaker) as session:
            yield session

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Whether this process may do the work called `name` now, held for the block: on PostgreSQL a session
        advisory lock (one holder per database among every replica; the others skip this turn instead of queueing),
        on SQLite always yes (one process writes an SQLite file; its writers are serialised anyway). The lock goes
        with its connection, so a process that dies mid-work releases it."""
        if self.is_sqlite:
            yield True
            return
        key = zlib.crc32(name.encode()) - 2**31  # a signed 32-bit key, the same in every process
        async with self.engine.connect() as conn:
            got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar())
            try:
                yield got
            finally:
                if got:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await conn.commit()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only: on SQLite the read engine (a snapshot that never waits for writers, run on the
        event loop, refusing writes); on PostgreSQL an ordinary session that is never committed."""
        async with self.read_sessionmaker() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


#: Methods that must not change anything (RFC 9110 safe methods): their requests get a read session.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    maker = db.read_sessionmaker if request.method in SAFE_METHODS else db.sessionmaker
    async with _committed(maker) as session:
        yield session
    crash_point("request.after_commit")


async def _writing_request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with _committed(db.sessionmaker) as session:
        yield session
    crash_point("request.after_commit")


@asynccontextmanager
async def _committed(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Commit when the block ends normally or raises a `DomainError` that `keeps_writes` (then re-raise it, so the
    error handler still renders the problem); roll back on anything else."""
    async with maker() as session:
        try:
            yield session
        except DomainError as error:
            if not error.keeps_writes:
                await session.rollback()
                raise
            await session.commit()
            raise
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


# scope="function": the code after `yield` (the commit) runs before the response is sent.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
# For the few GET endpoints that may write (an account created on a user's first visit): the read engine refuses
# writes (see `_configure_sqlite`).
WritingSessionDep = Annotated[AsyncSession, Depends(_writing_request_session, scope="function")]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so we store UTC and re-attach UTC when reading.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: The type of every id the API exposes: 64-bit on PostgreSQL (ids past 2^31 are valid input and must never be a
#: 500), and SQLite's INTEGER, which is 64-bit already and must stay exactly INTEGER to alias the rowid.
BIGINT_ID = BigInteger().with_variant(Integer(), "sqlite")


@event.listens_for(Column, "after_parent_attach")
def _ids_are_64_bit(column: Column[Any], table: Any) -> None:
    """Every integer id column of a service's tables is 64-bit on PostgreSQL: its own id, a reference to another
    table, and an id another service owns (`order_id` in leaders: an order past 2^31 arrives by event). A plain
    `int` field named `id` or `*_id` gets the type `id_field()`/`ref_field()` give, so no table can be declared
    with a 32-bit id by forgetting them."""
    metadata = getattr(table, "metadata", None)
    if metadata is None or not metadata.info.get(_WIDE_IDS) or type(column.type) is not Integer:
        return
    if column.foreign_keys or column.name == "id" or column.name.endswith("_id"):
        column.type = BIGINT_ID


def id_field() -> Any:
    """A table's own id: `id: int | None = id_field()`."""
    return Field(default=None, sa_type=BIGINT_ID, primary_key=True)


def ref_field(target: str, *, index: bool = False, nullable: bool = False) -> Any:
    """A reference to another table's id (`"orders.id"`), of the same 64-bit type."""
    if nullable:
        return Field(default=None, sa_type=BIGINT_ID, foreign_key=target, index=index, nullable=True)
    return Field(sa_type=BIGINT_ID, foreign_key=target, index=index)


def timestamp_field(*, nullable: bool = False, index: bool = False) -> Any:
    """A SQLModel field holding a UTC timestamp, defaulting to now unless nullable."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)
