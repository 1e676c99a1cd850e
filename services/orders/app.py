"""The orders service: the catalogue, group-buys, orders, payments, delivery batches, procurement, pickup, refunds,
flash sales."""

from __future__ import annotations

import functools

from fastapi import FastAPI
from redis.asyncio import Redis

from services.common.app import build_service_app
from services.common.auth import ServiceTokens
from services.common.events.wiring import ServiceEvents
from services.common.openids import AccountsOpenIds
from services.common.production import ensure_service_production_ready
from services.common.txn import AfterTransaction
from services.orders import jobs
from services.orders.aftersales.router import router as aftersales_router
from services.orders.categories.router import router as categories_router
from services.orders.clients import (
    HttpEffectsSource,
    HttpLeaderDirectory,
    HttpPointsClient,
    UpstreamClients,
)
from services.orders.config import Settings, get_settings, payment_secret_problems
from services.orders.db import inbox, outbox
from services.orders.delivery.router import router as delivery_router
from services.orders.delivery.router import shortages_router
from services.orders.flash_sales import lane
from services.orders.flash_sales.batcher import FlashBatcher
from services.orders.flash_sales.router import router as flash_sales_router
from services.orders.flash_sales.runtime import FlashRuntime
from services.orders.group_buys.router import router as group_buys_router
from services.orders.inventory.redis_stock import RedisSaleStock
from services.orders.inventory.service import Inventory
from services.orders.models import metadata
from services.orders.orders.pickup import next_pickup_date
from services.orders.orders.router import router as orders_router
from services.orders.payment_provider import DevPayers, HttpPayerDirectory, PayerDirectory
from services.orders.payments.router import dev_router, order_payment_router
from services.orders.payments.router import router as payments_router
from services.orders.privacy.router import router as privacy_router
from services.orders.procurement.router import router as procurement_router
from services.orders.products.router import router as products_router
from services.orders.reconciliation.receiving import HttpReceivingSide
from services.orders.reconciliation.router import router as reconciliation_router
from services.orders.subscriptions import HANDLERS
from services.orders.tickets.router import router as tickets_router
from services.orders.wechatpay import WeChatPayProvider, payment_provider_of


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    ensure_service_production_ready(
        "orders", settings, [*payment_secret_problems(settings), *settings.production_problems()]
    )
    tokens = ServiceTokens.from_settings(settings, "orders")
    upstream = UpstreamClients(timeout_seconds=settings.upstream_timeout_seconds, tokens=tokens)
    redis_stock = None
    if settings.redis_url:
        # The client connects lazily, on the first flash-sale purchase.
        redis_stock = RedisSaleStock(Redis.from_url(settings.redis_url), prefix=settings.redis_prefix)
    after_transaction = AfterTransaction()
    inventory = Inventory(
        redis=redis_stock, sold_out_ttl_seconds=settings.flash_sold_out_ttl_seconds, after=after_transaction
    )
    flash = FlashRuntime(inventory=inventory)
    payment_provider, real_payments = payment_provider_of(settings)
    payers: PayerDirectory = (
        HttpPayerDirectory(AccountsOpenIds(lambda: upstream.client, tokens, settings.accounts_url))
        if real_payments
        else DevPayers()
    )

    async def close_clients(app_: FastAPI) -> None:
        await after_transaction.drain()
        await inventory.aclose()
        await upstream.aclose()
        if isinstance(payment_provider, WeChatPayProvider):
            await payment_provider.aclose()

    app = build_service_app(
        service="orders",
        title="Orders service",
        settings=settings,
        metadata=metadata,
        # Flash sales first: routing tries routes in order, and a flash-sale purchase is the busiest request.
        routers=[
            flash_sales_router,
            products_router,
            orders_router,
            order_payment_router,
            payments_router,
            dev_router,
            delivery_router,
            reconciliation_router,
            aftersales_router,
            shortages_router,
            tickets_router,
            categories_router,
            group_buys_router,
            procurement_router,
            privacy_router,
        ],
        background_jobs=jobs.scheduled_jobs(settings),
        extra_state={
            "service_tokens": tokens,
            "upstream": upstream,
            "leaders": HttpLeaderDirectory(upstream, settings.leaders_url, cache_seconds=settings.leader_cache_seconds),
            "points": HttpPointsClient(upstream, settings.points_url),
            "effects": HttpEffectsSource(upstream, leaders_url=settings.leaders_url, points_url=settings.points_url),
            "receiving": HttpReceivingSide(upstream, leaders_url=settings.leaders_url, points_url=settings.points_url),
            "payment_provider": payment_provider,
            # Refunds go through the payment provider; tests may swap in a refund-only fake.
            "refund_provider": payment_provider,
            "payers": payers,
            "flash": flash,
            "inventory": inventory,
            "after_transaction": after_transaction,
        },
        on_shutdown=[close_clients],
        # Orders publishes the order life; it consumes only `user.erased`.
        events=ServiceEvents(outbox=outbox, inbox=inbox, handlers=HANDLERS),
    )
    # One batcher per process: the purchases of a sale that arrive together are decided and written together.
    app.state.flash_batcher = FlashBatcher(
        flash,
        app.state.db,
        pickup_date_of=functools.partial(next_pickup_date, tz=settings.tz, cutoff=settings.cutoff_time),
    )
    # Purchases are answered before FastAPI's routing and dependencies; sold-out ones from memory (`lane.py`).
    lane.install(app, inventory)
    return app
