"""Request dependencies for what `create_app` put on `app.state` (tests replace these objects with fakes).

`async def` although nothing awaits: FastAPI runs a plain `def` dependency in the thread pool, a hop that cost
about 200 us per dependency and request (four of them on order creation), for an attribute read."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.orders.clients import LeaderDirectory, PointsClient
from services.orders.config import Settings
from services.orders.flash_sales.stock import FlashRuntime
from services.orders.payment_provider import RefundProvider
from services.orders.txn import AfterTransaction


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _leaders(request: Request) -> LeaderDirectory:
    leaders: LeaderDirectory = request.app.state.leaders
    return leaders


async def _points(request: Request) -> PointsClient:
    points: PointsClient = request.app.state.points
    return points


async def _flash(request: Request) -> FlashRuntime:
    flash: FlashRuntime = request.app.state.flash
    return flash


async def _after(request: Request) -> AfterTransaction:
    after: AfterTransaction = request.app.state.after_transaction
    return after


async def _refund_provider(request: Request) -> RefundProvider:
    provider: RefundProvider = request.app.state.refund_provider
    return provider


SettingsDep = Annotated[Settings, Depends(_settings)]
LeadersDep = Annotated[LeaderDirectory, Depends(_leaders)]
PointsDep = Annotated[PointsClient, Depends(_points)]
FlashDep = Annotated[FlashRuntime, Depends(_flash)]
AfterDep = Annotated[AfterTransaction, Depends(_after)]
RefundProviderDep = Annotated[RefundProvider, Depends(_refund_provider)]
