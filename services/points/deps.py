"""Request-level dependencies of the points service: the clock and the settings.

The clock lives on `app.state.clock` (default `utcnow`) so tests can move time across business days, month ends
and expiry dates without patching modules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, cast

from fastapi import Depends, Request

from services.common.app import from_app_state
from services.points.config import Settings


async def _now(request: Request) -> datetime:
    clock = cast(Callable[[], datetime], request.app.state.clock)
    return clock()


NowDep = Annotated[datetime, Depends(_now)]
SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
