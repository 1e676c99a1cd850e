"""Every table of the accounts service, imported in one place so the metadata (and Alembic) sees them all."""

from services.accounts.audit.models import AuditEntry
from services.accounts.db import metadata
from services.accounts.sessions.models import LoginSession, RefreshToken
from services.accounts.staff.models import Staff, StaffRole
from services.accounts.users.models import LeaderRole, User, WeChatIdentity

__all__ = [
    "AuditEntry",
    "LeaderRole",
    "LoginSession",
    "RefreshToken",
    "Staff",
    "StaffRole",
    "User",
    "WeChatIdentity",
    "metadata",
]
