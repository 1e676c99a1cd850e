"""Staff accounts: created and changed by `ops`, signing in with a password that locks after too many mistakes.

Every change is published as `staff.updated` (leaders shows a manager's name and contact to their leaders).
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.audit import service as audit_trail
from services.accounts.config import Settings
from services.accounts.db import outbox
from services.accounts.keys.issuer import TokenIssuer
from services.accounts.roles import OPS
from services.accounts.sessions import repository as sessions_repository
from services.accounts.sessions import service as sessions
from services.accounts.sessions.schemas import TokenPair
from services.accounts.staff import repository
from services.accounts.staff.exceptions import (
    CannotDemoteYourself,
    StaffAccountDisabled,
    StaffAccountLocked,
    StaffChangedConcurrently,
    StaffCredentialsInvalid,
    StaffNotFound,
    StaffUsernameTaken,
)
from services.accounts.staff.models import Staff
from services.accounts.staff.passwords import PasswordHasher
from services.accounts.staff.schemas import StaffCreate, StaffRead, StaffUpdate
from services.common import audit
from services.common.auth import Principal
from services.common.clock import as_utc
from services.common.db import Database
from services.common.errors import DomainError
from services.common.events.contract import STAFF_UPDATED, StaffUpdated
from services.common.pagination import InvalidCursor, Page, PageParams

log = logging.getLogger("services.accounts.staff")


def new_staff_id() -> str:
    return "s_" + secrets.token_hex(8)


def _read(staff: Staff, roles: list[str]) -> StaffRead:
    return StaffRead(
        id=staff.id,
        username=staff.username,
        display_name=staff.display_name,
        contact_phone=staff.contact_phone,
        roles=roles,
        active=staff.active,
        locked_until=staff.locked_until,
        created_at=staff.created_at,
        updated_at=staff.updated_at,
    )


async def _publish(session: AsyncSession, staff: Staff, roles: list[str], now: datetime) -> None:
    payload = StaffUpdated(
        staff_id=staff.id,
        display_name=staff.display_name,
        contact_phone=staff.contact_phone,
        roles=roles,
        active=staff.active,
        at=now,
    )
    await outbox.record(
        session, type=STAFF_UPDATED, aggregate=f"staff:{staff.id}", data=payload.model_dump(mode="json")
    )


async def require_staff(session: AsyncSession, staff_id: str) -> Staff:
    staff = await repository.get_staff(session, staff_id)
    if staff is None:
        raise StaffNotFound(f"Staff account {staff_id} does not exist")
    return staff


def _audited(staff: Staff, roles: list[str]) -> dict[str, object]:
    """What the audit trail keeps of an account: never the password hash, never the contact phone."""
    return {"username": staff.username, "display_name": staff.display_name, "roles": roles, "active": staff.active}


async def create_staff(
    session: AsyncSession, *, passwords: PasswordHasher, data: StaffCreate, created_by: str, now: datetime
) -> StaffRead:
    # Hashed before the first statement: on SQLite that statement takes the write lock, held until commit.
    password_hash = await passwords.hash(data.password)
    staff = Staff(
        id=new_staff_id(),
        username=data.username,
        display_name=data.display_name,
        contact_phone=data.contact_phone,
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
    )
    if not await repository.insert_staff(session, staff, data.roles):
        raise StaffUsernameTaken(f"The username {data.username} is taken")
    roles: list[str] = sorted(set(data.roles))
    await _publish(session, staff, roles, now)
    await _audit(
        session,
        actor=created_by,
        action="staff.created",
        target=("staff", staff.id),
        before=None,
        after=_audited(staff, roles),
        at=now,
    )
    return _read(staff, roles)


async def get_staff(session: AsyncSession, *, staff_id: str) -> StaffRead:
    staff = await require_staff(session, staff_id)
    return _read(staff, await repository.roles_of(session, staff_id))


async def list_staff(
    session: AsyncSession, *, page: PageParams, role: str | None, active: bool | None
) -> Page[StaffRead]:
    after = page.after[0] if page.after else None
    if after is not None and not isinstance(after, str):
        raise InvalidCursor()
    rows = await repository.list_staff(session, limit=page.limit + 1, after_username=after, role=role, active=active)
    roles = await repository.roles_by_staff(session, [row.id for row in rows])
    return page.page(rows, key=lambda s: [s.username], convert=lambda s: _read(s, roles[s.id]))


async def update_staff(
    session: AsyncSession,
    *,
    passwords: PasswordHasher,
    staff_id: str,
    data: StaffUpdate,
    changed_by: str,
    now: datetime,
) -> StaffRead:
    fields = data.model_fields_set
    password_hash = await passwords.hash(data.password) if data.password is not None else None
    staff = await require_staff(session, staff_id)
    roles = await repository.roles_of(session, staff_id)
    was = _audited(staff, roles)  # now: reading the account again refreshes this same object
    if changed_by == staff_id and (
        (data.roles is not None and OPS in roles and OPS not in data.roles) or data.active is False
    ):
        raise CannotDemoteYourself()
    values: dict[str, object] = {}
    if data.display_name is not None:
        values["display_name"] = data.display_name
    if "contact_phone" in fields:
        values["contact_phone"] = data.contact_phone
    if data.active is not None:
        values["active"] = data.active
    if password_hash is not None:
        values.update(password_hash=password_hash, failed_attempts=0, locked_until=None)
    if not await repository.update_staff(session, staff_id, expected_version=staff.version, values=values, now=now):
        raise StaffChangedConcurrently(f"Staff account {staff_id} changed while you were changing it")
    if data.roles is not None:
        await repository.replace_roles(session, staff_id, data.roles)
    if data.active is False or password_hash is not None:
        reason = "staff_disabled" if data.active is False else "password_reset"
        await sessions_repository.revoke_subject_sessions(session, staff_id, reason=reason, now=now)
    log.info("staff account changed", extra={"staff_id": staff_id, "by": changed_by, "fields": sorted(fields)})
    updated = await require_staff(session, staff_id)
    new_roles = await repository.roles_of(session, staff_id)
    await _publish(session, updated, new_roles, now)
    before, after = audit.changed(was, _audited(updated, new_roles))
    if password_hash is not None:
        before["password"], after["password"] = None, "reset"  # that it changed, never what to
    await _audit(
        session,
        actor=changed_by,
        action="staff.updated",
        target=("staff", staff_id),
        before=before,
        after=after,
        at=now,
    )
    return _read(updated, new_roles)


def _locked(until: datetime | None, now: datetime) -> StaffAccountLocked | None:
    if until is None or as_utc(until) <= now:
        return None
    seconds = max(1, math.ceil((as_utc(until) - now).total_seconds()))
    return StaffAccountLocked(
        f"Locked until {as_utc(until).isoformat()}", retry_after_seconds=seconds, locked_until=as_utc(until).isoformat()
    )


async def sign_in(
    db: Database,
    *,
    passwords: PasswordHasher,
    issuer: TokenIssuer,
    username: str,
    password: str,
    now: datetime,
    settings: Settings,
) -> TokenPair:
    """A session for a staff member with the right password.

    The transaction is ours: a wrong password is counted (and may lock the account) and still answers 401, so the
    count commits before the error is raised. The password is checked outside any transaction (it takes time).
    """
    async with db.reading() as session:
        staff = await repository.get_by_username(session, username.strip().lower())
    if staff is None:
        await passwords.verify_nothing(password)
        raise StaffCredentialsInvalid()
    locked = _locked(staff.locked_until, now)
    if locked is not None:
        raise locked
    correct = await passwords.verify(password, staff.password_hash)
    async with db.transaction() as session:
        outcome = await _settle_attempt(
            session, staff=staff, correct=correct, issuer=issuer, now=now, settings=settings
        )
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


async def _settle_attempt(
    session: AsyncSession, *, staff: Staff, correct: bool, issuer: TokenIssuer, now: datetime, settings: Settings
) -> TokenPair | DomainError:
    if not correct:
        locked_until = await repository.record_failed_login(
            session,
            staff.id,
            now=now,
            max_failures=settings.staff_max_failed_logins,
            lock_seconds=settings.staff_lock_seconds,
        )
        locked = _locked(locked_until, now)
        if locked is not None:
            log.warning("staff account locked after wrong passwords", extra={"staff_id": staff.id})
            return locked
        return StaffCredentialsInvalid()
    if not staff.active:
        return StaffAccountDisabled()
    if not await repository.record_successful_login(session, staff.id, now=now, verified_hash=staff.password_hash):
        current = await repository.get_staff(session, staff.id)
        if current is None or current.password_hash != staff.password_hash:
            return StaffCredentialsInvalid()  # the password was reset while this one was being checked
        if not current.active:
            return StaffAccountDisabled()
        return _locked(current.locked_until, now) or StaffCredentialsInvalid()
    roles = await repository.roles_of(session, staff.id)
    return await sessions.start_session(
        session, issuer=issuer, kind=sessions.STAFF, subject_id=staff.id, roles=roles, now=now, settings=settings
    )


async def audit_actor(session: AsyncSession, actor_id: str, roles_given: list[str]) -> audit_trail.KnownActor:
    """The username and duties of an audit entry's actor: the duties the producer named, or, when it knew only the
    id, those the staff account holds now (the best word on the ones it used)."""
    staff = await repository.get_staff(session, actor_id)
    if staff is None:
        return audit_trail.KnownActor(username=None, roles=roles_given)
    return audit_trail.KnownActor(
        username=staff.username, roles=roles_given or await repository.roles_of(session, staff.id)
    )


async def _audit(
    session: AsyncSession,
    *,
    actor: Principal | audit.Actor | str,
    action: str,
    target: tuple[str, str | int],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    at: datetime,
) -> None:
    payload, event_id = audit_trail.own_entry(
        actor=actor, action=action, target=target, before=before, after=after, at=at
    )
    known = await audit_actor(session, payload.actor, payload.actor_roles)
    await audit_trail.keep(session, payload, event_id=event_id, actor=known)
