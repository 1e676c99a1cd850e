"""Request-level dependencies of the points service: the clock (the shared `NowDep`) and the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.common.app import NowDep, from_app_state
from services.points.config import Settings

__all__ = ["NowDep", "SettingsDep"]

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
