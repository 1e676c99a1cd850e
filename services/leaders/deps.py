"""Request dependencies of the leaders routers: settings, path parameters, callers (the payout provider's is
beside it, `withdrawals/payout.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from services.common.app import from_app_state
from services.common.auth import Principal, require_permission, signed_in
from services.common.db import Database
from services.common.permissions import Permission
from services.common.text import SINGLE_LINE_PATTERN
from services.leaders.config import Settings

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
DatabaseDep = Annotated[Database, Depends(from_app_state("db"))]
LeaderIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=SINGLE_LINE_PATTERN, description="The leader's user id (JWT sub)")
]

#: A leader's private data: the leader themselves, staff reading every leader, the leader's manager (object checks
#: in `profiles/access.py`).
LeaderDataReader = Annotated[Principal, Depends(signed_in(Permission.LEADERS_READ))]
LeaderAdmin = Annotated[Principal, Depends(require_permission(Permission.LEADERS_MANAGE))]
LeaderReader = Annotated[Principal, Depends(require_permission(Permission.LEADERS_READ))]
CommissionAdmin = Annotated[Principal, Depends(require_permission(Permission.COMMISSION_MANAGE))]
