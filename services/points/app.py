"""The points service: ledger, sign-in, newcomer and purchase points, referrals, tasks, holds, expiry."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import build_service_app
from services.common.events.wiring import ServiceEvents
from services.common.jobs import every
from services.common.metrics import count_ledger_entries
from services.common.production import ensure_service_production_ready
from services.points.config import Settings, get_settings
from services.points.db import inbox, outbox
from services.points.holds.jobs import expired_holds_job
from services.points.holds.router import router as holds_router
from services.points.ledger.jobs import expiry_job
from services.points.ledger.models import Entry
from services.points.ledger.router import router as ledger_router
from services.points.models import metadata
from services.points.privacy.router import router as privacy_router
from services.points.purchases.router import router as reconciliation_router
from services.points.referrals.router import router as referrals_router
from services.points.referrals.router import tasks_router
from services.points.rules.router import internal_router as rules_internal_router
from services.points.rules.router import router as rules_router
from services.points.signins.router import router as signins_router
from services.points.subscriptions import HANDLERS


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    count_ledger_entries(Entry, "points")  # ledger_entries_written_total
    ensure_service_production_ready("points", settings)
    return build_service_app(
        service="points",
        title="Points service",
        settings=settings,
        metadata=metadata,
        routers=[
            ledger_router,
            signins_router,
            tasks_router,
            rules_router,
            referrals_router,
            holds_router,
            rules_internal_router,
            reconciliation_router,
            privacy_router,
        ],
        background_jobs=[
            every(settings.jobs_interval_seconds, expired_holds_job),
            every(settings.jobs_interval_seconds, expiry_job),
        ],
        events=ServiceEvents(outbox=outbox, inbox=inbox, handlers=HANDLERS),
    )
