"""Statements for many rows at once: one SQLAlchemy Core statement (built from the models), run for many
parameter sets in one round trip.

Why not `AsyncConnection.execute(statement, rows)` everywhere: on PostgreSQL it renders a multi-row statement per
batch size (prepared again whenever the size changes) and its per-execution work cost several times what the
driver does; `asyncpg`'s `fetchmany`/`executemany` send one prepared statement with many parameter sets. So on
PostgreSQL each statement is compiled once and run on the driver's connection (bind processors applied as
SQLAlchemy would); elsewhere (SQLite) the same statements go through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import ClauseElement, Executable, Insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler

Params = Mapping[str, Any]


class Bulk(Protocol):
    """A connection that runs a statement for many parameter sets at once, inside `transaction()`."""

    dialect_name: str

    async def fetch(self, statement: Executable, params: Sequence[Params]) -> list[Sequence[Any]]:
        """Run `statement` once per parameter set; the rows it returned, in order."""
        ...

    async def execute(self, statement: Executable, params: Sequence[Params]) -> None:
        """Run `statement` once per parameter set."""
        ...

    def transaction(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    #: The model's defaults of the columns a parameter set may leave out (an INSERT's other columns).
    defaults: dict[str, Callable[[], Any]]


class AsyncpgBulk:
    """PostgreSQL: each statement compiled once (per process) to the driver's SQL, run with `fetchmany` or
    `executemany` on the asyncpg connection SQLAlchemy's pool handed out."""

    dialect_name = "postgresql"
    _compiled: dict[Executable, _Prepared] = {}  # noqa: RUF012 - statements are module-level constants

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self.raw = raw
        self.dialect = dialect

    def _prepare(self, statement: Executable) -> _Prepared:
        prepared = self._compiled.get(statement)
        if prepared is None:
            compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=self.dialect))
            names = tuple(compiled.positiontup or ())
            processors = tuple(compiled.binds[name].type.bind_processor(self.dialect) for name in names)
            defaults = {column.key: _default(column) for column in compiled.insert_prefetch}
            prepared = _Prepared(compiled.string, names, processors, defaults)
            self._compiled[statement] = prepared
        return prepared

    @staticmethod
    def _args(prepared: _Prepared, params: Sequence[Params]) -> list[tuple[Any, ...]]:
        pairs = tuple(zip(prepared.names, prepared.processors, strict=True))
        if prepared.defaults:
            params = [{**{k: make() for k, make in prepared.defaults.items() if k not in row}, **row} for row in params]
        return [tuple(row[n] if process is None else process(row[n]) for n, process in pairs) for row in params]

    async def fetch(self, statement: Executable, params: Sequence[Params]) -> list[Sequence[Any]]:
        if not params:
            return []
        prepared = self._prepare(statement)
        rows: list[Sequence[Any]] = await self.raw.fetchmany(prepared.sql, self._args(prepared, params))
        return rows

    async def execute(self, statement: Executable, params: Sequence[Params]) -> None:
        if params:
            prepared = self._prepare(statement)
            await self.raw.executemany(prepared.sql, self._args(prepared, params))

    def transaction(self) -> Any:
        return self.raw.transaction()


def _default(column: Any) -> Callable[[], Any]:
    default = column.default
    if default is None:
        return lambda: None
    if default.is_scalar:
        value = default.arg
        return lambda: value
    return lambda: default.arg(None)  # SQLAlchemy wraps a column's default function to take a context


class SqlAlchemyBulk:
    """Any other database (and PostgreSQL inside an ORM session): the same statements through SQLAlchemy."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect_name = conn.dialect.name

    async def fetch(self, statement: Executable, params: Sequence[Params]) -> list[Sequence[Any]]:
        if not params:
            return []
        if isinstance(statement, Insert):
            # Many parameter sets for one INSERT become one multi-row statement, RETURNING rows in order.
            return list(await self.conn.execute(statement, list(params)))
        rows: list[Sequence[Any]] = []
        for one in params:
            rows.extend(await self.conn.execute(statement, dict(one)))
        return rows

    async def execute(self, statement: Executable, params: Sequence[Params]) -> None:
        if params:
            await self.conn.execute(statement, list(params))

    def transaction(self) -> Any:
        return self.conn.begin()


@asynccontextmanager
async def bulk_connection(engine: AsyncEngine) -> AsyncIterator[Bulk]:
    """A pooled connection for batches of writes (several transactions may follow each other on it)."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql" and conn.dialect.driver == "asyncpg":
            fairy = await conn.get_raw_connection()
            yield AsyncpgBulk(fairy.driver_connection, conn.dialect)
        else:
            yield SqlAlchemyBulk(conn)
