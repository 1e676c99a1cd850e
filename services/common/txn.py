"""Run work after the request's transaction ends, for side effects outside the database (Redis, HTTP).

Services never commit (the session dependency does), so an effect that must follow the commit, or undo something
when the transaction rolls back, is registered here and scheduled as a task once the outcome is known. Each callback
must be idempotent: it may also run from another path (a retry, the expiry job).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger("services.txn")

Callback = Callable[[], Awaitable[None]]


class AfterTransaction:
    """Schedules callbacks after commit or rollback and keeps their tasks so tests (and shutdown) can wait."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def register(
        self, session: AsyncSession, *, committed: Callback | None = None, rolled_back: Callback | None = None
    ) -> None:
        sync_session = session.sync_session
        # Listeners are not removed (that would mutate the dispatch list while it runs); sessions are per request
        # or per job step, so they go away with the session. `done` makes each registration fire once.
        outcome: dict[str, bool] = {"committed": False, "done": False}

        def on_commit(_session: Session) -> None:
            outcome["committed"] = True

        def on_end(_session: Session, transaction: SessionTransaction) -> None:
            if transaction.parent is not None or transaction.nested or outcome["done"]:
                return  # a savepoint or subtransaction ended; wait for the real transaction
            outcome["done"] = True
            callback = committed if outcome["committed"] else rolled_back
            if callback is not None:
                self._schedule(callback)

        event.listen(sync_session, "after_commit", on_commit)
        event.listen(sync_session, "after_transaction_end", on_end)

    def _schedule(self, callback: Callback) -> None:
        async def run() -> None:
            try:
                await callback()
            except Exception:
                log.exception("after-transaction work failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
