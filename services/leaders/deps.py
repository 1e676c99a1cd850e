"""Request dependencies of the leaders routers: settings, payout provider, path parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from services.common.db import Database
from services.leaders.config import Settings
from services.leaders.withdrawals.payout import PayoutProvider


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _payout(request: Request) -> PayoutProvider:
    provider: PayoutProvider = request.app.state.payout_provider
    return provider


def _database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


SettingsDep = Annotated[Settings, Depends(_settings)]
PayoutDep = Annotated[PayoutProvider, Depends(_payout)]
DatabaseDep = Annotated[Database, Depends(_database)]
LeaderIdPath = Annotated[str, Path(min_length=1, max_length=64, description="The leader's user id (JWT sub)")]
