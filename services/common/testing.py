"""Helpers the tests of every service share: databases per test run, tokens, in-process clients."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterable
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.auth import issue_token
from services.common.db import Database

TEST_JWT_SECRET = "test-secret-0123456789abcdef0123456789abcdef"  # noqa: S105 - tests only
#: When set (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres), the suite runs on PostgreSQL:
#: one database per service, created fresh for the run.
POSTGRES_ENV = "TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def prepare_database(service: str, tmp_dir: Path) -> str:
    """A fresh, empty database for `service` for this test run; returns its async URL."""
    admin = postgres_admin_url()
    if admin is None:
        return f"sqlite+aiosqlite:///{tmp_dir / (service + '.db')}"
    name = f"gb_test_{service}_{os.getpid()}"

    async def recreate() -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    asyncio.run(recreate())
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    admin = postgres_admin_url()
    if admin is None:
        return
    name = make_url(url).database

    async def drop() -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()

    asyncio.run(drop())


async def reset_database(db: Database) -> None:
    """Empty every table of the service (the schema stays, as the migrations made it)."""
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    async with db.engine.begin() as conn:
        if db.is_sqlite:
            for name in tables:
                await conn.execute(text(f'DELETE FROM "{name}"'))  # noqa: S608 - names from our metadata
        else:
            joined = ", ".join(f'"{n}"' for n in tables)
            await conn.execute(text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))


def bearer(sub: str, roles: Iterable[str], *, secret: str = TEST_JWT_SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(sub, roles, secret=secret)}"}


def asgi_client(app: FastAPI, base_url: str = "http://testserver") -> httpx.AsyncClient:
    # raise_app_exceptions=False: a 500 must reach the test as the problem response a caller would get.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=base_url)


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on now (for servers that tests and benchmarks start as processes).

    Never the same port twice in one process: the kernel may offer a port again once it is released, and two
    servers told the same port would leave one of them answering for both.
    """
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
