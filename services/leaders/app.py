"""The leaders service: leaders, communities, levels, commission ledger, statements, withdrawals."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.common.app import build_service_app
from services.common.auth import ServiceTokens, TokenSource
from services.common.events.wiring import ServiceEvents
from services.common.jobs import every
from services.common.metrics import count_ledger_entries
from services.common.openids import AccountsOpenIds
from services.common.production import ensure_service_production_ready
from services.common.wechatpay import load_credentials
from services.leaders.commission.jobs import settlement_job
from services.leaders.commission.models import CommissionEntry
from services.leaders.commission.router import internal_router as reconciliation_router
from services.leaders.commission.router import router as commission_router
from services.leaders.communities.router import me_router as my_community_router
from services.leaders.communities.router import router as communities_router
from services.leaders.config import Settings, get_settings
from services.leaders.db import inbox, outbox
from services.leaders.levels.jobs import level_evaluation_job
from services.leaders.levels.router import internal_router as levels_internal_router
from services.leaders.levels.router import router as levels_router
from services.leaders.models import metadata
from services.leaders.pickup_points.router import router as pickup_points_router
from services.leaders.privacy.router import router as privacy_router
from services.leaders.profiles.router import applications_router, internal_router, leaders_router
from services.leaders.subscriptions import build_handlers
from services.leaders.withdrawals.jobs import payouts_job
from services.leaders.withdrawals.payout import FakePayoutProvider, HttpPayeeDirectory, PayoutProvider
from services.leaders.withdrawals.router import router as withdrawals_router
from services.leaders.withdrawals.wechat import WeChatPayoutProvider


def payout_provider_of(settings: Settings, accounts: httpx.AsyncClient, tokens: TokenSource) -> PayoutProvider:
    """The provider `LEADERS_PAYOUT_PROVIDER` names; broken WeChat credentials stop the start, naming the setting."""
    if settings.payout_provider != "wechat":
        return FakePayoutProvider()
    return WeChatPayoutProvider(
        load_credentials(settings, prefix="LEADERS"),
        HttpPayeeDirectory(AccountsOpenIds(lambda: accounts, tokens, settings.accounts_url)),
        base_url=settings.wechatpay_base_url,
        transfer_scene_id=settings.wechatpay_transfer_scene_id,
        timeout_seconds=settings.wechatpay_timeout_seconds,
    )


def create_app(settings: Settings | None = None, *, payout_provider: PayoutProvider | None = None) -> FastAPI:
    settings = settings or get_settings()
    count_ledger_entries(CommissionEntry, "commission")  # ledger_entries_written_total
    ensure_service_production_ready("leaders", settings, settings.production_problems())
    tokens = ServiceTokens.from_settings(settings, "leaders")
    accounts = httpx.AsyncClient(timeout=5.0)
    payout = payout_provider or payout_provider_of(settings, accounts, tokens)

    async def close_clients(app_: FastAPI) -> None:
        if isinstance(payout, WeChatPayoutProvider):
            await payout.aclose()
        await accounts.aclose()

    return build_service_app(
        service="leaders",
        title="Leaders service",
        settings=settings,
        metadata=metadata,
        routers=[
            applications_router,
            leaders_router,
            communities_router,
            my_community_router,
            pickup_points_router,
            levels_router,
            commission_router,
            withdrawals_router,
            internal_router,
            levels_internal_router,
            reconciliation_router,
            privacy_router,
        ],
        background_jobs=[
            every(settings.settlement_interval_seconds, settlement_job, name="commission-settlement"),
            every(settings.level_evaluation_interval_seconds, level_evaluation_job, name="level-evaluation"),
            every(settings.payout_interval_seconds, payouts_job, name="payouts"),
        ],
        extra_state={"payout_provider": payout, "service_tokens": tokens},
        on_shutdown=[close_clients],
        events=ServiceEvents(outbox=outbox, inbox=inbox, handlers=build_handlers(settings)),
    )
