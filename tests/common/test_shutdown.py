"""Stopping a service: a background job finishes the run it is in and starts no other; one that overruns the grace
period is cancelled, so shutdown always ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import MetaData

from services.common.app import BackgroundJob, build_service_app
from services.common.jobs import every
from services.common.settings import ServiceSettings


def service_with(jobs: list[BackgroundJob], tmp_path: Path, grace: float) -> FastAPI:
    settings = ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db", shutdown_grace_seconds=grace)
    return build_service_app(
        service="demo",
        title="demo",
        settings=settings,
        metadata=MetaData(),
        routers=[],
        background_jobs=jobs,
    )


async def test_a_job_finishes_its_run_on_shutdown_and_starts_no_other(tmp_path: Path) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    runs: list[str] = []

    async def work(app: FastAPI) -> None:
        runs.append("started")
        started.set()
        await release.wait()  # a run in the middle of its items
        runs.append("finished")

    app = service_with([every(0.01, work)], tmp_path, grace=5)
    async with app.router.lifespan_context(app):
        await started.wait()
        # Shutdown begins while the run is in progress; the run is let go only afterwards.
        asyncio.get_running_loop().call_later(0.05, release.set)
    assert runs == ["started", "finished"]


async def test_a_job_that_overruns_the_grace_period_is_cancelled(tmp_path: Path) -> None:
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def stuck(app: FastAPI) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    app = service_with([every(0.01, stuck)], tmp_path, grace=0.1)
    async with asyncio.timeout(5):
        async with app.router.lifespan_context(app):
            await started.wait()
    assert cancelled == [True]
