"""Request dependencies of the leaders routers: settings, payout provider, path parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from services.common.app import from_app_state
from services.common.db import Database
from services.leaders.config import Settings
from services.leaders.withdrawals.payout import PayoutProvider

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
PayoutDep = Annotated[PayoutProvider, Depends(from_app_state("payout_provider"))]
DatabaseDep = Annotated[Database, Depends(from_app_state("db"))]
LeaderIdPath = Annotated[str, Path(min_length=1, max_length=64, description="The leader's user id (JWT sub)")]
