"""Statements for many rows at once: one SQLAlchemy Core statement (built from the models), run for many
parameter sets in one round trip.

Why not `AsyncConnection.execute(statement, rows)` everywhere: on PostgreSQL it renders a multi-row statement per
batch size (prepared again whenever the size changes) and its per-execution work cost several times what the
driver does. So on PostgreSQL each statement is compiled once and run on the driver's connection (bind processors
applied as SQLAlchemy would); elsewhere (SQLite) the same statements go through SQLAlchemy.

Why an INSERT becomes one statement over arrays: asyncpg's `executemany`/`fetchmany` send one Bind/Execute per
parameter set, and each costs the server and the driver work per row (the flash-sale batch writes several rows per
purchase). `INSERT INTO t (a, b) SELECT p1, p2 FROM unnest($1::T1[], $2::T2[]) WITH ORDINALITY AS u(p1, p2, ord)
ORDER BY ord` is one execution whatever the number of rows, its SQL the same for every batch size (prepared once).
Rows are inserted in parameter order, so a serial or identity key is drawn in that order (what SQLAlchemy's own
"insertmanyvalues" relies on for PostgreSQL): RETURNING rows, in no promised order, are sorted by that key. A
statement this cannot express alike (UPDATE, DELETE, SELECT, ON CONFLICT DO UPDATE, a value that is not one plain
parameter, RETURNING without such a key) still runs once per parameter set; the choice is made once per statement.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol, cast

from sqlalchemy import ARRAY, ClauseElement, Executable, Insert, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler

Params = Mapping[str, Any]


class Bulk(Protocol):
    """A connection that runs a statement for many parameter sets at once, inside `transaction()`."""

    dialect_name: str

    async def fetch(self, statement: Executable, params: Sequence[Params]) -> list[Sequence[Any]]:
        """Run `statement` as if once per parameter set; the rows its RETURNING gave, in parameter order (an INSERT
        ... ON CONFLICT DO NOTHING: the rows of the sets inserted, still in that order)."""
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
    #: The form of `sql`: one INSERT over arrays (one array per name), or a statement run once per parameter set.
    arrays: bool = False
    #: Over arrays with RETURNING: where a returned row holds the autoincrement key the rows are sorted by (-1: added
    #: to RETURNING for that, cut off again).
    sort_key: int | None = None


class AsyncpgBulk:
    """PostgreSQL: each statement compiled once (per process) to the driver's SQL, run on the asyncpg connection
    SQLAlchemy's pool handed out: an INSERT as one statement over arrays, any other with `fetchmany`/`executemany`."""

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
            over_arrays = _over_arrays(statement, compiled) if isinstance(statement, Insert) else None
            if over_arrays is None:
                prepared = _Prepared(compiled.string, names, processors, defaults)
            else:
                sql, sort_key = over_arrays
                prepared = _Prepared(sql, names, processors, defaults, arrays=True, sort_key=sort_key)
            self._compiled[statement] = prepared
        return prepared

    @staticmethod
    def _complete(prepared: _Prepared, params: Sequence[Params]) -> Sequence[Params]:
        if not prepared.defaults:
            return params
        return [{**{k: make() for k, make in prepared.defaults.items() if k not in row}, **row} for row in params]

    @classmethod
    def _args(cls, prepared: _Prepared, params: Sequence[Params]) -> list[tuple[Any, ...]]:
        pairs = tuple(zip(prepared.names, prepared.processors, strict=True))
        params = cls._complete(prepared, params)
        return [tuple(row[n] if process is None else process(row[n]) for n, process in pairs) for row in params]

    @classmethod
    def _arrays(cls, prepared: _Prepared, params: Sequence[Params]) -> list[list[Any]]:
        params = cls._complete(prepared, params)
        return [
            [row[n] for row in params] if process is None else [process(row[n]) for row in params]
            for n, process in zip(prepared.names, prepared.processors, strict=True)
        ]

    async def fetch(self, statement: Executable, params: Sequence[Params]) -> list[Sequence[Any]]:
        if not params:
            return []
        prepared = self._prepare(statement)
        if not prepared.arrays:
            rows: list[Sequence[Any]] = await self.raw.fetchmany(prepared.sql, self._args(prepared, params))
            return rows
        rows = await self.raw.fetch(prepared.sql, *self._arrays(prepared, params))
        if prepared.sort_key is None:
            return rows
        rows.sort(key=itemgetter(prepared.sort_key))
        return [row[:-1] for row in rows] if prepared.sort_key == -1 else rows

    async def execute(self, statement: Executable, params: Sequence[Params]) -> None:
        if not params:
            return
        prepared = self._prepare(statement)
        if prepared.arrays:
            await self.raw.execute(prepared.sql, *self._arrays(prepared, params))
        else:
            await self.raw.executemany(prepared.sql, self._args(prepared, params))

    def transaction(self) -> Any:
        return self.raw.transaction()


def _over_arrays(statement: Insert, compiled: SQLCompiler) -> tuple[str, int | None] | None:
    """`statement` as one INSERT over arrays: (its SQL, where a returned row holds the key to sort by); None where
    that would not do what running `statement` once per parameter set does.

    Read off the compiled `INSERT INTO t (a, b) VALUES ($1, $2) [ON CONFLICT ...] [RETURNING ...]`, each value one
    parameter and no parameter after them; any other shape keeps the statement as it is."""
    table = statement.table
    names = compiled.positiontup or ()
    if not isinstance(table, Table) or not names:
        return None
    preparer = compiled.preparer
    values = ", ".join(rf"\${i}(?:::[^$]*?)?" for i in range(1, len(names) + 1))
    table_name = re.escape(preparer.format_table(table))
    shape = (  # a pattern, not SQL to run
        rf"INSERT INTO {table_name} \((?P<columns>[^$]*?)\) VALUES \({values}\)"  # noqa: S608
        r"(?P<conflict>(?: ON CONFLICT [^$]*?)?)(?: RETURNING (?P<returning>[^$]*))?"
    )
    match = re.fullmatch(shape, compiled.string)
    if match is None or "DO UPDATE" in match["conflict"]:
        # Two parameter sets updating one row fail as one statement ("cannot affect row a second time").
        return None
    by_name = {preparer.format_column(column): column for column in table.columns}
    columns = [by_name.get(name) for name in match["columns"].split(", ")]
    if len(columns) != len(names):
        return None
    arrays = []
    for i, (name, column) in enumerate(zip(names, columns, strict=True), start=1):
        impl = None if column is None else column.type._unwrapped_dialect_impl(compiled.dialect)
        if (
            column is None
            or isinstance(impl, ARRAY)  # unnest would flatten an array of arrays
            or compiled.binds[name].type._type_affinity is not column.type._type_affinity
        ):
            return None
        # The cast SQLAlchemy renders for the parameter (VARCHAR without its length: a cast to VARCHAR(n) would cut
        # a longer value where the column refuses it).
        arrays.append(cast(Any, compiled).render_bind_cast(column.type, impl, f"${i}") + "[]")
    selected = ", ".join(f"p{i}" for i in range(1, len(names) + 1))
    # Only pieces of the statement's own compiled SQL and names made here: no value reaches the text.
    sql = (
        f"INSERT INTO {preparer.format_table(table)} ({match['columns']}) SELECT {selected} "  # noqa: S608
        f"FROM unnest({', '.join(arrays)}) WITH ORDINALITY AS u({selected}, ord) ORDER BY ord{match['conflict']}"
    )
    if match["returning"] is None or compiled.implicit_returning:
        # No RETURNING, or only the one SQLAlchemy adds for a single row's key, which nobody asked for.
        return sql, None
    key = table.autoincrement_column
    if (
        key is None
        or any(column.name == key.name for column in columns if column is not None)
        or key.default is not None
        or (key.server_default is not None and key.identity is None)
    ):
        return None  # nothing tells which returned row is which parameter set's: keep one execution per set
    returned = list(compiled.effective_returning or ())
    for position, element in enumerate(returned):
        # (An ORM statement's table and its columns are annotated copies: compare the table underneath.)
        if getattr(element, "table", None) is key.table and getattr(element, "name", None) == key.name:
            return f"{sql} RETURNING {match['returning']}", position
    return f"{sql} RETURNING {match['returning']}, {preparer.format_column(key, use_table=True)}", -1


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
