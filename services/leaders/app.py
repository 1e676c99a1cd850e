"""The leaders service: leaders, communities, levels, commission ledger, statements, withdrawals."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import build_service_app
from services.common.events.wiring import ServiceEvents
from services.common.jobs import every
from services.common.production import ensure_service_production_ready
from services.leaders.commission.jobs import settlement_job
from services.leaders.commission.router import internal_router as reconciliation_router
from services.leaders.commission.router import router as commission_router
from services.leaders.communities.router import router as communities_router
from services.leaders.config import Settings, get_settings
from services.leaders.db import inbox, outbox
from services.leaders.levels.jobs import level_evaluation_job
from services.leaders.levels.router import router as levels_router
from services.leaders.models import metadata
from services.leaders.privacy.router import router as privacy_router
from services.leaders.profiles.router import applications_router, internal_router, leaders_router
from services.leaders.subscriptions import HANDLERS
from services.leaders.withdrawals.payout import FakePayoutProvider, PayoutProvider
from services.leaders.withdrawals.router import router as withdrawals_router


def create_app(settings: Settings | None = None, *, payout_provider: PayoutProvider | None = None) -> FastAPI:
    settings = settings or get_settings()
    ensure_service_production_ready("leaders", settings)
    return build_service_app(
        service="leaders",
        title="Leaders service",
        settings=settings,
        metadata=metadata,
        routers=[
            applications_router,
            leaders_router,
            communities_router,
            levels_router,
            commission_router,
            withdrawals_router,
            internal_router,
            reconciliation_router,
            privacy_router,
        ],
        background_jobs=[
            every(settings.settlement_interval_seconds, settlement_job, name="commission-settlement"),
            every(settings.level_evaluation_interval_seconds, level_evaluation_job, name="level-evaluation"),
        ],
        extra_state={"payout_provider": payout_provider or FakePayoutProvider()},
        events=ServiceEvents(outbox=outbox, inbox=inbox, handlers=HANDLERS),
    )
