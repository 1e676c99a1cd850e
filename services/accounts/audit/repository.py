"""All SQL of the audit trail: inserts and reads only (the table refuses anything else)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.audit.models import AuditEntry


async def insert(session: AsyncSession, entry: AuditEntry) -> bool:
    """False when an entry with this event id exists already (a redelivered event)."""
    try:
        async with session.begin_nested():
            session.add(entry)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def list_entries(
    session: AsyncSession,
    *,
    limit: int,
    before_id: int | None,
    actor: str | None,
    target_type: str | None,
    target_id: str | None,
    action: str | None,
    service: str | None,
    start: datetime | None,
    end: datetime | None,
) -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if service is not None:
        query = query.where(AuditEntry.service == service)
    if start is not None:
        query = query.where(col(AuditEntry.at) >= start)
    if end is not None:
        query = query.where(col(AuditEntry.at) < end)
    return (await session.exec(query)).all()
