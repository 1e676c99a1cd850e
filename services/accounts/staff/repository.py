"""All SQL about staff accounts and their roles."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, literal, null, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.staff.models import Staff, StaffRole
from services.common.db import UTCDateTime


async def insert_staff(session: AsyncSession, staff: Staff, roles: Sequence[str]) -> bool:
    """False when the username is taken (the unique index decides, not a lookup before)."""
    try:
        async with session.begin_nested():
            session.add(staff)
            await session.flush()
            session.add_all([StaffRole(staff_id=staff.id, role=role) for role in sorted(set(roles))])
            await session.flush()
    except IntegrityError:
        return False
    return True


async def get_staff(session: AsyncSession, staff_id: str) -> Staff | None:
    return await session.get(Staff, staff_id, populate_existing=True)


async def get_by_username(session: AsyncSession, username: str) -> Staff | None:
    query = select(Staff).where(Staff.username == username).execution_options(populate_existing=True)
    return (await session.exec(query)).one_or_none()


async def roles_of(session: AsyncSession, staff_id: str) -> list[str]:
    query = select(StaffRole.role).where(StaffRole.staff_id == staff_id).order_by(col(StaffRole.role))
    return list((await session.exec(query)).all())


async def roles_by_staff(session: AsyncSession, staff_ids: Sequence[str]) -> dict[str, list[str]]:
    query = select(StaffRole).where(col(StaffRole.staff_id).in_(staff_ids)).order_by(col(StaffRole.role))
    roles: dict[str, list[str]] = {staff_id: [] for staff_id in staff_ids}
    for row in (await session.exec(query)).all():
        roles[row.staff_id].append(row.role)
    return roles


async def list_staff(
    session: AsyncSession, *, limit: int, after_username: str | None, role: str | None, active: bool | None
) -> Sequence[Staff]:
    query = select(Staff).order_by(col(Staff.username)).limit(limit)
    if after_username is not None:
        query = query.where(col(Staff.username) > after_username)
    if role is not None:
        query = query.where(col(Staff.id).in_(select(StaffRole.staff_id).where(StaffRole.role == role)))
    if active is not None:
        query = query.where(Staff.active == active)
    return (await session.exec(query)).all()


async def update_staff(
    session: AsyncSession, staff_id: str, *, expected_version: int, values: dict[str, Any], now: datetime
) -> bool:
    """Apply `values` if nobody changed the account since `expected_version` was read."""
    result = await session.exec(
        update(Staff)
        .where(col(Staff.id) == staff_id, col(Staff.version) == expected_version)
        .values(**values, version=expected_version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def replace_roles(session: AsyncSession, staff_id: str, roles: Sequence[str]) -> None:
    await session.exec(delete(StaffRole).where(col(StaffRole.staff_id) == staff_id))
    session.add_all([StaffRole(staff_id=staff_id, role=role) for role in sorted(set(roles))])
    await session.flush()


async def record_failed_login(
    session: AsyncSession, staff_id: str, *, now: datetime, max_failures: int, lock_seconds: int
) -> datetime | None:
    """Count one wrong password in one statement (parallel attempts all count); returns `locked_until` after it.

    A lock that has run out starts a fresh count, so the account is not locked again by the first mistake.
    """
    lock_ran_out = and_(col(Staff.locked_until).is_not(None), col(Staff.locked_until) <= now)
    failures = case((lock_ran_out, 1), else_=col(Staff.failed_attempts) + 1)
    locked_until = case(
        (failures >= max_failures, literal(now + timedelta(seconds=lock_seconds), UTCDateTime)),
        (lock_ran_out, null()),
        else_=col(Staff.locked_until),
    )
    await session.exec(
        update(Staff)
        .where(col(Staff.id) == staff_id)
        .values(failed_attempts=failures, locked_until=locked_until)
        .execution_options(synchronize_session=False)
    )
    staff = await get_staff(session, staff_id)
    return staff.locked_until if staff is not None else None


async def record_successful_login(session: AsyncSession, staff_id: str, *, now: datetime, verified_hash: str) -> bool:
    """Reset the count of wrong passwords; False when, since the password was checked against `verified_hash`, the
    account was disabled, locked or given a new password."""
    result = await session.exec(
        update(Staff)
        .where(
            col(Staff.id) == staff_id,
            col(Staff.active).is_(True),
            col(Staff.password_hash) == verified_hash,
            or_(col(Staff.locked_until).is_(None), col(Staff.locked_until) <= now),
        )
        .values(failed_attempts=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
