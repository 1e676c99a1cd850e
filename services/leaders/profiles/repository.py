"""All SQL about leader applications, leaders, their change history and their managers' contacts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.privacy import ERASED
from services.common.sql import insert_once
from services.leaders.profiles.models import (
    Leader,
    LeaderApplication,
    LeaderApplicationStatus,
    LeaderChange,
    LeaderStatus,
    ManagerContact,
)

#: What an erased person's name and free-text personal fields become.


async def insert_application(session: AsyncSession, application: LeaderApplication) -> bool:
    """False when the applicant already has a pending application (the unique `pending_key`)."""
    return await insert_once(session, application, conflict_columns=("pending_key",))


async def get_application(session: AsyncSession, application_id: int) -> LeaderApplication | None:
    return await session.get(LeaderApplication, application_id, populate_existing=True)


async def list_applications(
    session: AsyncSession,
    *,
    limit: int,
    after_id: int | None,
    status: LeaderApplicationStatus | None,
    applicant_id: str | None,
) -> Sequence[LeaderApplication]:
    query = select(LeaderApplication).order_by(col(LeaderApplication.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(LeaderApplication.id) < after_id)
    if status is not None:
        query = query.where(LeaderApplication.status == status)
    if applicant_id is not None:
        query = query.where(LeaderApplication.applicant_id == applicant_id)
    return (await session.exec(query)).all()


async def decide_application(
    session: AsyncSession,
    application_id: int,
    *,
    status: LeaderApplicationStatus,
    decided_by: str,
    at: datetime,
    reason: str | None,
) -> bool:
    """Move a pending application to `status`; False if it was no longer pending (someone decided first)."""
    result = await session.exec(
        update(LeaderApplication)
        .where(
            col(LeaderApplication.id) == application_id,
            col(LeaderApplication.status) == LeaderApplicationStatus.PENDING,
        )
        .values(status=status, pending_key=None, decided_by=decided_by, decided_at=at, reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def insert_leader(session: AsyncSession, leader: Leader) -> bool:
    """False when the user is already a leader."""
    return await insert_once(session, leader, conflict_columns=("leader_id",))


async def get_leader(session: AsyncSession, leader_id: str) -> Leader | None:
    # populate_existing: guarded updates below bypass the identity map, so always read the row as it is now.
    return await session.get(Leader, leader_id, populate_existing=True)


async def leader_state(session: AsyncSession, leader_id: str) -> Any:
    """(status, level, manager_id, name) as stored now, read as columns: the session's Leader objects (which the
    caller may still hold with their old values) stay as they are."""
    query = select(Leader.status, Leader.level, Leader.manager_id, Leader.name).where(Leader.leader_id == leader_id)
    return (await session.exec(query)).one()


async def list_leaders(
    session: AsyncSession, *, limit: int, after_id: str | None, status: LeaderStatus | None, manager_id: str | None
) -> Sequence[Leader]:
    query = select(Leader).order_by(col(Leader.leader_id)).limit(limit)
    if after_id is not None:
        query = query.where(col(Leader.leader_id) > after_id)
    if status is not None:
        query = query.where(Leader.status == status)
    if manager_id is not None:
        query = query.where(Leader.manager_id == manager_id)
    return (await session.exec(query)).all()


async def list_active_leaders(session: AsyncSession) -> Sequence[Leader]:
    query = select(Leader).where(Leader.status == LeaderStatus.ACTIVE).order_by(col(Leader.leader_id))
    return (await session.exec(query)).all()


async def update_leader_field(
    session: AsyncSession, leader_id: str, *, field: str, expected: Any, new: Any, at: datetime
) -> bool:
    """Set one field only if it still holds `expected`: a concurrent change is never silently overwritten."""
    column = getattr(Leader, field)
    condition = col(column).is_(None) if expected is None else col(column) == expected
    result = await session.exec(
        update(Leader)
        .where(col(Leader.leader_id) == leader_id, condition)
        .values({field: new, "updated_at": at})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def update_pickup_point(session: AsyncSession, leader_id: str, *, columns: dict[str, Any], at: datetime) -> bool:
    result = await session.exec(
        update(Leader)
        .where(col(Leader.leader_id) == leader_id)
        .values({**columns, "updated_at": at})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def insert_change(session: AsyncSession, change: LeaderChange) -> None:
    session.add(change)
    await session.flush()


async def list_changes(
    session: AsyncSession, leader_id: str, *, limit: int, after_id: int | None
) -> Sequence[LeaderChange]:
    query = (
        select(LeaderChange)
        .where(LeaderChange.leader_id == leader_id)
        .order_by(col(LeaderChange.id).desc())
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(col(LeaderChange.id) < after_id)
    return (await session.exec(query)).all()


async def record_manager_contact(session: AsyncSession, contact: ManagerContact) -> None:
    """Keep what accounts says of a staff member, unless what is kept already describes a later change."""
    result = await session.exec(
        update(ManagerContact)
        .where(col(ManagerContact.staff_id) == contact.staff_id, col(ManagerContact.changed_at) <= contact.changed_at)
        .values(
            display_name=contact.display_name,
            contact_phone=contact.contact_phone,
            active=contact.active,
            is_manager=contact.is_manager,
            changed_at=contact.changed_at,
        )
    )
    if result.rowcount == 0:
        await insert_once(session, contact)


async def get_manager_contact(session: AsyncSession, staff_id: str) -> ManagerContact | None:
    return await session.get(ManagerContact, staff_id)


async def list_applications_of(session: AsyncSession, applicant_id: str) -> Sequence[LeaderApplication]:
    query = select(LeaderApplication).where(LeaderApplication.applicant_id == applicant_id)
    return (await session.exec(query.order_by(col(LeaderApplication.id)))).all()


async def list_all_changes(session: AsyncSession, leader_id: str) -> Sequence[LeaderChange]:
    query = select(LeaderChange).where(LeaderChange.leader_id == leader_id).order_by(col(LeaderChange.id))
    return (await session.exec(query)).all()


async def anonymise_applications(session: AsyncSession, applicant_id: str, *, keep_pickup: bool) -> None:
    """Blank the name and phone of every application of the person, and the pickup point they proposed unless it
    is a leader's live pickup point (`keep_pickup`): that one is a shop front, not a private address."""
    values: dict[str, Any] = {"name": ERASED, "phone": ""}
    if not keep_pickup:
        values |= {
            "pickup_name": ERASED,
            "pickup_address": ERASED,
            "pickup_community": ERASED,
            "latitude": None,
            "longitude": None,
            "opening_hours": None,
        }
    await session.exec(
        update(LeaderApplication).where(col(LeaderApplication.applicant_id) == applicant_id).values(values)
    )


async def anonymise_leader(session: AsyncSession, leader_id: str) -> None:
    await session.exec(update(Leader).where(col(Leader.leader_id) == leader_id).values(name=ERASED, phone=""))
