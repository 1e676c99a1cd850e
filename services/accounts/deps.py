"""Request dependencies of the accounts routers: settings, database, keys, providers, and the caller.

Callers are verified the way every service verifies them (`services.common.auth`), with a `TokenVerifier` fed from
accounts' own key directory instead of over HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends

from services.accounts.config import Settings
from services.accounts.keys.issuer import TokenIssuer
from services.accounts.privacy.sources import ExportSource
from services.accounts.staff.passwords import PasswordHasher
from services.accounts.wechat.provider import WeChatProvider
from services.common.app import NowDep, from_app_state
from services.common.auth import CurrentUser, CustomerUser, Principal, require_permission
from services.common.db import Database
from services.common.permissions import Permission

__all__ = [
    "CurrentUser",
    "CustomerUser",
    "DatabaseDep",
    "ExportSourcesDep",
    "IssuerDep",
    "NowDep",
    "PasswordsDep",
    "SettingsDep",
    "StaffAdmin",
    "UserReader",
    "WeChatDep",
]

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
DatabaseDep = Annotated[Database, Depends(from_app_state("db"))]
IssuerDep = Annotated[TokenIssuer, Depends(from_app_state("issuer"))]
WeChatDep = Annotated[WeChatProvider, Depends(from_app_state("wechat"))]
ExportSourcesDep = Annotated[Sequence[ExportSource], Depends(from_app_state("export_sources"))]
PasswordsDep = Annotated[PasswordHasher, Depends(from_app_state("passwords"))]

#: Staff accounts and their duties.
StaffAdmin = Annotated[Principal, Depends(require_permission(Permission.STAFF_MANAGE))]
#: A customer's profile: every staff duty may look one up (phone masked); `users.read` sees the phone whole.
UserReader = Annotated[Principal, Depends(require_permission(Permission.USERS_LOOKUP, Permission.USERS_READ))]
