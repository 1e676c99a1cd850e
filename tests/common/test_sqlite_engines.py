"""SQLite: read-only requests run their queries on the event loop's thread and cannot write; writers keep
aiosqlite's worker thread (BEGIN IMMEDIATE may wait for another writer, which must not stall the loop)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import MetaData, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Database


async def _query_thread(conn: AsyncConnection) -> int:
    raw = await conn.get_raw_connection()
    sqlite_connection = raw.driver_connection._conn  # type: ignore[union-attr]
    sqlite_connection.create_function("thread_id", 0, threading.get_ident)
    return int((await conn.execute(text("SELECT thread_id()"))).scalar_one())


async def test_reads_run_on_the_loop_thread_and_refuse_writes_while_writes_use_the_worker(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'engines.db'}", MetaData())
    try:
        async with db.engine.begin() as conn:
            assert await _query_thread(conn) != threading.get_ident()
            await conn.execute(text("CREATE TABLE fruit (name TEXT)"))
            await conn.execute(text("INSERT INTO fruit VALUES ('pear')"))
        async with db.read_engine.connect() as conn:
            assert await _query_thread(conn) == threading.get_ident()
            assert (await conn.execute(text("SELECT name FROM fruit"))).scalar_one() == "pear"
            with pytest.raises(OperationalError, match="readonly"):
                await conn.execute(text("INSERT INTO fruit VALUES ('plum')"))
        async with db.read_engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            assert mode == "wal"  # what lets a read never wait for a lock
    finally:
        await db.dispose()
