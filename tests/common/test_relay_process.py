"""`make relay`: the outbox relay of one service as its own process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from services.common import migrate
from services.common.db import Database
from services.orders.db import metadata, outbox

REPO = Path(__file__).resolve().parents[2]


async def _record(url: str) -> str:
    db = Database(url, metadata)
    try:
        async with db.sessionmaker() as session, session.begin():
            # A type nobody subscribes to: delivering it needs no other process.
            event = await outbox.record(session, type="nobody.subscribes", aggregate="member:u1", data={})
        return event.id
    finally:
        await db.dispose()


async def _status(url: str, event_id: str) -> str:
    db = Database(url, metadata)
    try:
        async with db.engine.connect() as conn:
            query = select(outbox.table.c.status).where(outbox.table.c.event_id == event_id)
            return str((await conn.execute(query)).scalar_one())
    finally:
        await db.dispose()


def test_the_relay_runs_as_its_own_process_and_delivers_the_outbox(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    migrate.upgrade("orders", url)
    event_id = asyncio.run(_record(url))
    env = {**os.environ, "ORDERS_DATABASE_URL": url, "EVENTS_POLL_SECONDS": "0.1", "ORDERS_LOG_JSON": "false"}
    env.pop("EVENTS_NATS_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "services.common.events.relay", "orders"], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 20
        status = "pending"
        while status != "delivered" and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            status = asyncio.run(_status(url, event_id))
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert status == "delivered"
