from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.accounts.audit import service
from services.accounts.audit.schemas import AuditEntryRead, AuditQuery
from services.accounts.deps import SettingsDep
from services.common.auth import MissingPermission, Principal, require_permission
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.jwks import InvalidToken
from services.common.pagination import InvalidCursor, Page
from services.common.permissions import Permission

router = APIRouter(prefix="/api/v1/audit-log", tags=["audit"])

AuditReader = Annotated[Principal, Depends(require_permission(Permission.AUDIT_READ))]


@router.get(
    "",
    response_model=Page[AuditEntryRead],
    summary="The audit trail of staff actions, newest first (staff: audit.read)",
    responses=problem_docs(InvalidToken, MissingPermission, InvalidCursor),
)
async def list_audit_entries(
    session: SessionDep, caller: AuditReader, filters: Annotated[AuditQuery, Query()], settings: SettingsDep
) -> Page[AuditEntryRead]:
    """Every staff action of every service (approvals, suspensions, prices and stock, rules, flash sales,
    withdrawal decisions, points adjustments, settlement, cut-off and refund runs, staff duties), with who acted,
    when, on what, and the values before and after. The trail cannot be edited: there is no route to change it,
    and the database refuses UPDATE and DELETE on it. `total` is null (the trail grows without bound)."""
    return await service.list_entries(session, query=filters, tz=settings.tz)
