"""Request dependencies of the accounts routers: settings, database and the caller. A provider a resource owns is
asked for beside it (`keys.issuer.IssuerDep`, `wechat.provider.WeChatDep`, `staff.passwords.PasswordsDep`,
`privacy.sources.ExportSourcesDep`), so this kit depends on no resource.

Callers are verified the way every service verifies them (`services.common.auth`), with a `TokenVerifier` fed from
accounts' own key directory instead of over HTTP.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.accounts.config import Settings
from services.common.app import NowDep, from_app_state
from services.common.auth import CurrentUser, CustomerUser, Principal, require_permission
from services.common.db import Database
from services.common.permissions import Permission

__all__ = [
    "CurrentUser",
    "CustomerUser",
    "DatabaseDep",
    "NowDep",
    "SettingsDep",
    "StaffAdmin",
    "UserReader",
]

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
DatabaseDep = Annotated[Database, Depends(from_app_state("db"))]

#: Staff accounts and their duties.
StaffAdmin = Annotated[Principal, Depends(require_permission(Permission.STAFF_MANAGE))]
#: A customer's profile: every staff duty may look one up (phone masked); `users.read` sees the phone whole.
UserReader = Annotated[Principal, Depends(require_permission(Permission.USERS_LOOKUP, Permission.USERS_READ))]
