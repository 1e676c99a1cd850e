"""The bulk writer (`services.common.bulk`): what a batch writes and gives back, on SQLite and (TEST_POSTGRES_URL)
PostgreSQL, where an INSERT runs as one statement over arrays and anything else once per parameter set."""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Executable,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.common import idempotency
from services.common.bulk import AsyncpgBulk, bulk_connection
from services.common.db import UTCDateTime
from services.common.events.store import Outbox
from services.common.testing import drop_database, prepare_database
from services.orders.inventory import repository as inventory
from services.orders.orders import repository as orders

_ASYNCPG: Dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
_tokens = itertools.count()


def _token() -> str:
    return f"t{next(_tokens)}"


_ID = BigInteger().with_variant(Integer(), "sqlite")
metadata = MetaData()
things = Table(
    "bulk_things",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("name", String(20), nullable=False),
    Column("data", JSON, nullable=True),
    Column("at", UTCDateTime, nullable=True),
    Column("note", String(50), nullable=True),
    Column("size", Integer, nullable=False, default=7),
    Column("token", String(20), nullable=False, default=_token),
    Column("tag", String(10), nullable=False, server_default="srv"),
)
keys = Table(
    "bulk_keys",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("k", String(20), nullable=False, unique=True),
    Column("v", Integer, nullable=False),
)
pairs = Table(
    "bulk_pairs",
    metadata,
    Column("a", String(20), primary_key=True),
    Column("b", String(20), primary_key=True),
    Column("v", Integer, nullable=False),
)

_INSERT_THING = insert(things).values({name: bindparam(name) for name in ("name", "data", "at", "note")})
_THING_IDS = _INSERT_THING.returning(things.c.id, sort_by_parameter_order=True)
# RETURNING without the key: on PostgreSQL the rows are sorted by a key added to RETURNING, then cut off again.
_THING_VALUES = _INSERT_THING.returning(
    things.c.name, things.c.data, things.c.at, things.c.note, things.c.size, things.c.tag, sort_by_parameter_order=True
)
_INSERT_PAIR = insert(pairs).values(a=bindparam("a"), b=bindparam("b"), v=bindparam("v"))
_PAIRS_BACK = _INSERT_PAIR.returning(pairs.c.a, pairs.c.b, pairs.c.v, sort_by_parameter_order=True)
_BUMP_PAIR = update(pairs).where(pairs.c.a == bindparam("p_a")).values(v=pairs.c.v + bindparam("p_by"))


@functools.cache
def _claim(dialect_name: str) -> Executable:
    insert_ = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    return (
        insert_(keys)
        .values(k=bindparam("p_k"), v=bindparam("p_v"))
        .on_conflict_do_nothing()
        .returning(keys.c.k, keys.c.v)
    )


@functools.cache
def _add(dialect_name: str) -> Executable:
    statement = (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(keys).values(
        k=bindparam("p_k"), v=bindparam("p_v")
    )
    return statement.on_conflict_do_update(
        index_elements=[keys.c.k], set_={"v": keys.c.v + statement.excluded.v}
    ).returning(keys.c.k, keys.c.v)


@pytest.fixture(scope="module")
def bulk_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = prepare_database("bulk", tmp_path_factory.mktemp("bulk"))
    yield url
    drop_database(url)


@pytest.fixture
async def engine(bulk_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(bulk_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


def _on_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def _things(n: int) -> list[dict[str, Any]]:
    east = timezone(timedelta(hours=8))
    start = datetime(2026, 3, 1, 12, 0, tzinfo=east)
    return [
        {
            "name": f"thing-{i:03d}",
            "data": {"i": i, "名": "团长", "list": [i, None, "x"], "nested": {"ok": i % 2 == 0}} if i % 5 else None,
            "at": None if i % 7 == 3 else start + timedelta(minutes=i),
            "note": None if i % 3 else f"note {i}",
        }
        for i in range(n)
    ]


async def _rows(engine: AsyncEngine, statement: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(statement))


async def test_an_insert_gives_back_the_ids_in_parameter_order_and_writes_each_set_to_its_row(
    engine: AsyncEngine,
) -> None:
    given = _things(60)
    async with bulk_connection(engine) as bulk, bulk.transaction():
        ids = [row[0] for row in await bulk.fetch(_THING_IDS, given)]
    assert len(ids) == len(set(ids)) == 60
    stored = {row.id: row for row in await _rows(engine, select(things))}
    assert set(stored) == set(ids)
    for id_, want in zip(ids, given, strict=True):
        row = stored[id_]
        assert (row.name, row.data, row.note) == (want["name"], want["data"], want["note"])
        assert row.at == want["at"]  # the same instant, read back in UTC
        assert row.at is None or row.at.tzinfo is not None
        assert (row.size, row.tag) == (7, "srv")  # the model's default, the server's default
    assert len({row.token for row in stored.values()}) == 60  # the callable default, drawn once per row


async def test_returned_values_without_the_key_come_back_in_parameter_order(engine: AsyncEngine) -> None:
    given = _things(55)
    async with bulk_connection(engine) as bulk, bulk.transaction():
        rows = await bulk.fetch(_THING_VALUES, given)
    assert [tuple(row) for row in rows] == [
        (g["name"], g["data"], None if g["at"] is None else g["at"].astimezone(UTC), g["note"], 7, "srv") for g in given
    ]


async def test_a_column_null_in_every_set_and_an_execute_without_returning(engine: AsyncEngine) -> None:
    given = [{"name": f"n{i}", "data": None, "at": None, "note": None} for i in range(52)]
    async with bulk_connection(engine) as bulk, bulk.transaction():
        await bulk.execute(_INSERT_THING, given)
    stored = await _rows(engine, select(things.c.name, things.c.at, things.c.note).order_by(things.c.id))
    assert [tuple(row) for row in stored] == [(g["name"], None, None) for g in given]


async def test_on_conflict_do_nothing_gives_back_the_inserted_sets_in_parameter_order(engine: AsyncEngine) -> None:
    claim = _claim(engine.dialect.name)
    async with bulk_connection(engine) as bulk, bulk.transaction():
        await bulk.execute(claim, [{"p_k": "old-1", "p_v": 1}, {"p_k": "old-2", "p_v": 2}])
    given = [{"p_k": f"k{i:02d}", "p_v": i} for i in range(50)]
    given[10:10] = [{"p_k": "old-1", "p_v": 100}]
    given[30:30] = [{"p_k": "k05", "p_v": 500}, {"p_k": "old-2", "p_v": 200}]  # k05 twice in the batch
    async with bulk_connection(engine) as bulk, bulk.transaction():
        rows = await bulk.fetch(claim, given)
    assert [tuple(row) for row in rows] == [(f"k{i:02d}", i) for i in range(50)]
    stored = dict(tuple(row) for row in await _rows(engine, select(keys.c.k, keys.c.v)))
    assert stored == {"old-1": 1, "old-2": 2, **{f"k{i:02d}": i for i in range(50)}}


async def test_an_upsert_updates_a_row_once_per_parameter_set(engine: AsyncEngine) -> None:
    add = _add(engine.dialect.name)
    given = [{"p_k": "a", "p_v": 1}, {"p_k": "b", "p_v": 10}, {"p_k": "a", "p_v": 2}, {"p_k": "a", "p_v": 4}]
    async with bulk_connection(engine) as bulk, bulk.transaction():
        rows = await bulk.fetch(add, given)
    assert [tuple(row) for row in rows] == [("a", 1), ("b", 10), ("a", 3), ("a", 7)]
    if _on_postgres(engine):
        # As one statement, PostgreSQL refuses to update a row twice: it stays one execution per set.
        assert not AsyncpgBulk._compiled[add].arrays


async def test_rows_of_a_table_without_an_autoincrement_key_come_back_in_parameter_order(
    engine: AsyncEngine,
) -> None:
    given: list[dict[str, Any]] = [{"a": f"a{(i * 37) % 53:02d}", "b": f"b{i}", "v": i} for i in range(53)]
    async with bulk_connection(engine) as bulk, bulk.transaction():
        rows = await bulk.fetch(_PAIRS_BACK, given)
        await bulk.execute(_BUMP_PAIR, [{"p_a": "a00", "p_by": 1000}, {"p_a": "a01", "p_by": 2000}])
    assert [tuple(row) for row in rows] == [(g["a"], g["b"], g["v"]) for g in given]
    stored: dict[str, int] = dict(tuple(row) for row in await _rows(engine, select(pairs.c.a, pairs.c.v)))
    given_v: dict[str, int] = {g["a"]: g["v"] for g in given}
    assert stored == {**given_v, "a00": given_v["a00"] + 1000, "a01": given_v["a01"] + 2000}
    if _on_postgres(engine):
        assert not AsyncpgBulk._compiled[_PAIRS_BACK].arrays  # nothing tells which returned row is whose


async def test_an_empty_batch_does_nothing(engine: AsyncEngine) -> None:
    async with bulk_connection(engine) as bulk, bulk.transaction():
        assert await bulk.fetch(_THING_IDS, []) == []
        assert await bulk.fetch(_claim(engine.dialect.name), []) == []
        await bulk.execute(_INSERT_THING, [])
    assert await _rows(engine, select(things)) == []


@pytest.mark.postgres
async def test_a_text_too_long_for_its_column_is_refused_not_cut(engine: AsyncEngine) -> None:
    too_long = {"name": "x" * 21, "data": None, "at": None, "note": None}
    # The driver's own error: the bulk connection is asyncpg's, not SQLAlchemy's.
    with pytest.raises(asyncpg.exceptions.StringDataRightTruncationError):
        async with bulk_connection(engine) as bulk, bulk.transaction():
            await bulk.execute(_INSERT_THING, [{**too_long, "name": "fits"}, too_long])
    assert await _rows(engine, select(things)) == []


class _ShuffledRows:
    """A driver connection whose one statement returns its rows reversed (PostgreSQL does not promise an order)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        self.calls.append((sql, args))
        return list(reversed(self.rows))


async def test_returned_rows_are_sorted_by_the_key_and_an_added_key_is_cut_off() -> None:
    given = _things(3)
    with_ids = _ShuffledRows([(11,), (12,), (13,)])
    assert await AsyncpgBulk(with_ids, _ASYNCPG).fetch(_THING_IDS, given) == [(11,), (12,), (13,)]
    [(sql, arrays)] = with_ids.calls
    assert "unnest(" in sql
    assert arrays[0] == ["thing-000", "thing-001", "thing-002"]  # one array per column, in parameter order
    with_values = _ShuffledRows([("thing-000", 21), ("thing-001", 22), ("thing-002", 23)])
    rows = await AsyncpgBulk(with_values, _ASYNCPG).fetch(_THING_VALUES, given)
    assert rows == [("thing-000",), ("thing-001",), ("thing-002",)]


def test_the_flash_batch_inserts_run_over_arrays_and_the_rest_once_per_set() -> None:
    bulk = AsyncpgBulk(None, _ASYNCPG)
    keys_statements = idempotency._statements(idempotency.idempotency_table(MetaData()), "postgresql")
    outbox = Outbox(MetaData(), source="orders")
    over_arrays = {
        "orders": orders._ORDER_ID,
        "lines": orders._LINE_ID,
        "log": orders._INSERT_LOG,
        "claim": keys_statements.claim,
        "outbox": outbox._insert,
    }
    per_set = {
        "quota upsert": inventory._take_quota("postgresql"),
        "lock": inventory._LOCK_SALE,
        "store": keys_statements.store,
        "release": keys_statements.release,
    }
    assert {name: bulk._prepare(s).arrays for name, s in over_arrays.items()} == dict.fromkeys(over_arrays, True)
    assert {name: bulk._prepare(s).arrays for name, s in per_set.items()} == dict.fromkeys(per_set, False)
    # A returned id sorts the rows; the log's implicit RETURNING (nobody reads it) is left out.
    assert bulk._prepare(orders._ORDER_ID).sql.endswith("ORDER BY ord RETURNING orders.id")
    assert "RETURNING" not in bulk._prepare(orders._INSERT_LOG).sql
