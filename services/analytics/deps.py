"""Request dependencies of the analytics routers: settings, the read connection, today, path parameters."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.clients import LeadersDirectory
from services.analytics.config import Settings
from services.common.app import NowDep, from_app_state
from services.common.clock import local_date
from services.common.db import SessionDep
from services.common.text import SINGLE_LINE_PATTERN

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
LeadersDep = Annotated[LeadersDirectory, Depends(from_app_state("leaders"))]


async def _connection(session: SessionDep) -> AsyncConnection:
    # The read model is read and written with Core statements: the session's connection, in its transaction.
    return await session.connection()


ConnectionDep = Annotated[AsyncConnection, Depends(_connection)]


async def _today(now: NowDep, settings: SettingsDep) -> date:
    return local_date(now, settings.tz)


#: The business date of the request, from the app clock.
TodayDep = Annotated[date, Depends(_today)]
LeaderIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=SINGLE_LINE_PATTERN, description="The leader's user id (JWT sub)")
]
UserIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=SINGLE_LINE_PATTERN, description="The customer's user id (JWT sub)")
]
