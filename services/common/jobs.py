"""Periodic jobs that run inside a service process (settlement, expiry, payment timeouts, the outbox relay).

Each job is idempotent and safe to run in several processes at once (its effects are guarded updates and unique
keys), so scaling a service out needs no leader election.

Replicas: each run holds `Database.exclusive(<service>:<job>)` (a PostgreSQL advisory lock), so of several replicas
one runs a given job at a time and the others skip that turn: no run is applied twice, and no two fight over the
same rows. The guarded updates and unique keys stay the real guarantee (the CLI runs the same functions); the lock
saves the wasted, contending work.

Stopping: on shutdown the app sets `app.state.stopping`; a job finishes the run it is in (each item of a run is its
own transaction anyway), does not start another, and returns. Whatever is still running after the grace period is
cancelled (`build_service_app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import FastAPI

log = logging.getLogger("services.jobs")


def every(
    seconds: float, work: Callable[[FastAPI], Awaitable[Any]], *, name: str | None = None
) -> Callable[[FastAPI], Coroutine[Any, Any, None]]:
    """A background job for `build_service_app(background_jobs=...)` that runs `work(app)` every `seconds`."""
    job_name: str = name or str(getattr(work, "__name__", "job"))

    async def run(app: FastAPI) -> None:
        stopping: asyncio.Event = app.state.stopping
        while not stopping.is_set():
            try:
                await run_exclusively(app, job_name, work)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failing run is logged and retried on the next tick; the job never dies silently.
                log.exception("periodic job failed", extra={"job": job_name})
            await sleep_unless_stopping(stopping, seconds)

    run.__name__ = job_name
    return run


async def run_exclusively(app: FastAPI, job_name: str, work: Callable[[FastAPI], Awaitable[Any]]) -> bool:
    """One run of a job, unless another replica of the service is running it right now. True if this one ran."""
    async with app.state.db.exclusive(f"{app.state.service}:{job_name}") as ours:
        if ours:
            await work(app)
        return bool(ours)


async def sleep_unless_stopping(stopping: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if the process starts stopping meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
