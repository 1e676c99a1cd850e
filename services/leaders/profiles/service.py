"""Leader rules: applications, approval, status and level changes with their history, pickup points."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.common.auth import Principal
from services.common.events.contract import (
    LEADER_STATUS_CHANGED,
    LEADER_UPDATED,
    LeaderStatusChanged,
    LeaderUpdated,
    StaffUpdated,
)
from services.common.pagination import Page, PageParams
from services.common.permissions import Permission, StaffRole
from services.leaders.access import NotYourLeaderAccount, manages_own_leaders_only, reads_every_leader
from services.leaders.db import outbox
from services.leaders.ladder import repository as ladder_repository
from services.leaders.ladder.exceptions import LevelNotFound
from services.leaders.ladder.models import LevelChange, LevelChangeDirection
from services.leaders.profiles import repository
from services.leaders.profiles.access import (
    acting_leader,
    ensure_reads_leader,
    readable_application,
    sees_full_profile,
)
from services.leaders.profiles.exceptions import (
    AlreadyALeader,
    ApplicationAlreadyDecided,
    ApplicationAlreadyPending,
    ApplicationNotFound,
    ConcurrentLeaderChange,
    LeaderNotFound,
    NotYourLeaders,
)
from services.leaders.profiles.models import (
    Leader,
    LeaderApplication,
    LeaderApplicationStatus,
    LeaderChange,
    LeaderStatus,
    ManagerContact,
)
from services.leaders.profiles.schemas import (
    ApplicationApprove,
    ApplicationCreate,
    ApplicationRead,
    ApplicationReject,
    InternalLeader,
    LeaderChangeRead,
    LeaderPublic,
    LeaderRead,
    LeaderUpdate,
    ManagerRead,
    PickupPoint,
    region_of,
)


async def apply(session: AsyncSession, *, applicant_id: str, data: ApplicationCreate) -> ApplicationRead:
    if await repository.get_leader(session, applicant_id) is not None:
        raise AlreadyALeader(f"User {applicant_id} is already a leader")
    application = LeaderApplication(
        applicant_id=applicant_id,
        pending_key=applicant_id,
        name=data.name,
        phone=data.phone,
        **data.pickup_point.columns(),
    )
    if not await repository.insert_application(session, application):
        raise ApplicationAlreadyPending(f"User {applicant_id} already has a pending application")
    return ApplicationRead.of(application)


async def get_application(session: AsyncSession, *, user: Principal, application_id: int) -> ApplicationRead:
    return ApplicationRead.of(await readable_application(session, application_id, user))


async def list_applications(
    session: AsyncSession, *, user: Principal, page: PageParams, status: LeaderApplicationStatus | None
) -> Page[ApplicationRead]:
    rows = await repository.list_applications(
        session,
        limit=page.limit + 1,
        after_id=page.after_int(),
        status=status,
        applicant_id=None if reads_every_leader(user) else user.sub,
    )
    return page.page(rows, key=lambda a: [a.id], convert=ApplicationRead.of)


async def approve_application(
    session: AsyncSession, *, application_id: int, decided_by: str, data: ApplicationApprove, now: datetime
) -> LeaderRead:
    """Approval makes the applicant's `sub` an active leader, with a history line (the commission account comes
    with their first accrual)."""
    application = await repository.get_application(session, application_id)
    if application is None:
        raise ApplicationNotFound(f"Application {application_id} does not exist")
    if data.level is not None and await ladder_repository.get_level(session, data.level) is None:
        raise LevelNotFound(f"Level {data.level} does not exist")
    was = application.status
    if not await repository.decide_application(
        session,
        application_id,
        status=LeaderApplicationStatus.APPROVED,
        decided_by=decided_by,
        at=now,
        reason=None,
    ):
        raise ApplicationAlreadyDecided(f"Application {application_id} is already {application.status}")
    leader = Leader(
        leader_id=application.applicant_id,
        name=application.name,
        phone=application.phone,
        status=LeaderStatus.ACTIVE,
        level=data.level,
        manager_id=data.manager_id,
        application_id=application.id,
        pickup_name=application.pickup_name,
        pickup_address=application.pickup_address,
        pickup_community=application.pickup_community,
        city=application.city,
        district=application.district,
        latitude=application.latitude,
        longitude=application.longitude,
        opening_hours=application.opening_hours,
        created_at=now,
        updated_at=now,
    )
    if not await repository.insert_leader(session, leader):
        raise AlreadyALeader(f"User {application.applicant_id} is already a leader")
    await repository.insert_change(
        session,
        LeaderChange(
            leader_id=leader.leader_id,
            field="status",
            old_value=None,
            new_value=LeaderStatus.ACTIVE,
            changed_by=decided_by,
            reason=f"application {application_id} approved",
            at=now,
        ),
    )
    if data.level is not None:
        await ladder_repository.insert_level_change(
            session,
            LevelChange(
                leader_id=leader.leader_id,
                from_level=None,
                to_level=data.level,
                direction=LevelChangeDirection.SET,
                changed_by=decided_by,
                at=now,
            ),
        )
    await _publish_status(session, leader.leader_id, LeaderStatus.ACTIVE, now)
    await _publish_state(
        session,
        leader_id=leader.leader_id,
        status=leader.status,
        level=leader.level,
        manager_id=leader.manager_id,
        name=leader.name,
        at=now,
    )
    await audit.record(
        session, outbox, actor=decided_by, action="leader_application.approved",
        target=("leader_application", application_id), before={"status": was},
        after={"status": LeaderApplicationStatus.APPROVED, "leader_id": leader.leader_id, "level": leader.level,
               "manager_id": leader.manager_id},
        at=now,
    )  # fmt: skip
    return LeaderRead.of(leader)


async def reject_application(
    session: AsyncSession, *, application_id: int, decided_by: str, data: ApplicationReject, now: datetime
) -> ApplicationRead:
    application = await repository.get_application(session, application_id)
    if application is None:
        raise ApplicationNotFound(f"Application {application_id} does not exist")
    was = application.status
    if not await repository.decide_application(
        session,
        application_id,
        status=LeaderApplicationStatus.REJECTED,
        decided_by=decided_by,
        at=now,
        reason=data.reason,
    ):
        raise ApplicationAlreadyDecided(f"Application {application_id} is already {application.status}")
    await audit.record(
        session, outbox, actor=decided_by, action="leader_application.rejected",
        target=("leader_application", application_id), before={"status": was},
        after={"status": LeaderApplicationStatus.REJECTED}, at=now,
    )  # fmt: skip
    refreshed = await repository.get_application(session, application_id)
    assert refreshed is not None
    return ApplicationRead.of(refreshed)


async def require_leader(session: AsyncSession, leader_id: str) -> Leader:
    leader = await repository.get_leader(session, leader_id)
    if leader is None:
        raise LeaderNotFound(f"Leader {leader_id} does not exist")
    return leader


async def get_leader(session: AsyncSession, *, user: Principal, leader_id: str) -> LeaderRead | LeaderPublic:
    """Public profile for anyone signed in; the full profile for the leader themselves, their manager and staff who
    read every leader."""
    leader = await require_leader(session, leader_id)
    if sees_full_profile(user, leader):
        return await _with_manager(session, leader)
    return LeaderRead.of(leader).public()


async def my_profile(session: AsyncSession, *, leader_id: str) -> LeaderRead:
    """The calling leader's profile, with their manager's name and contact."""
    return await _with_manager(session, await require_leader(session, leader_id))


async def _with_manager(session: AsyncSession, leader: Leader) -> LeaderRead:
    profile = LeaderRead.of(leader)
    if leader.manager_id is not None:
        contact = await repository.get_manager_contact(session, leader.manager_id)
        if contact is not None and contact.active and contact.is_manager:
            profile.manager = ManagerRead(
                id=contact.staff_id, display_name=contact.display_name, contact_phone=contact.contact_phone
            )
    return profile


async def get_internal_leader(session: AsyncSession, *, leader_id: str) -> InternalLeader:
    leader = await require_leader(session, leader_id)
    return InternalLeader(
        leader_id=leader.leader_id,
        status=leader.status,
        level=leader.level,
        pickup_point=PickupPoint.of(leader),
        region=region_of(leader.city, leader.district),
    )


async def list_leaders(
    session: AsyncSession, *, user: Principal, page: PageParams, status: LeaderStatus | None, manager_id: str | None
) -> Page[LeaderRead]:
    """`manager_id=me` lists the caller's own leaders. A manager lists only theirs, whatever they ask for."""
    if manager_id == "me":
        manager_id = user.sub
    if manages_own_leaders_only(user):
        if manager_id is not None and manager_id != user.sub:
            raise NotYourLeaders(f"A manager lists only their own leaders (manager_id={user.sub} or me)")
        manager_id = user.sub
    after = page.after[0] if page.after else None
    rows = await repository.list_leaders(
        session, limit=page.limit + 1, after_id=str(after) if after is not None else None, status=status,
        manager_id=manager_id,
    )  # fmt: skip
    return page.page(rows, key=lambda leader: [leader.leader_id], convert=LeaderRead.of)


async def update_leader(
    session: AsyncSession, *, leader_id: str, changed_by: str, data: LeaderUpdate, now: datetime
) -> LeaderRead:
    """Apply ops changes field by field, each guarded on the value it replaces and kept in the history."""
    leader = await require_leader(session, leader_id)
    changes: dict[str, Any] = data.model_dump(include=data.model_fields_set - {"reason"})
    new_level = changes.get("level")
    if new_level is not None and await ladder_repository.get_level(session, new_level) is None:
        raise LevelNotFound(f"Level {new_level} does not exist")
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for field, new in changes.items():
        old = getattr(leader, field)
        if old == new:
            continue
        before[field], after[field] = old, new
        await set_leader_field(
            session,
            leader_id=leader_id,
            field=field,
            old=old,
            new=new,
            changed_by=changed_by,
            reason=data.reason,
            now=now,
        )
        if field == "level":
            await ladder_repository.insert_level_change(
                session,
                LevelChange(
                    leader_id=leader_id,
                    from_level=old,
                    to_level=new,
                    direction=LevelChangeDirection.SET,
                    changed_by=changed_by,
                    at=now,
                ),
            )
    if after:
        # A change of status is the suspension or reinstatement staff look for; anything else is an update.
        status = after.get("status")
        action = {None: "leader.updated", LeaderStatus.SUSPENDED: "leader.suspended"}.get(status, "leader.reinstated")
        await audit.record(
            session, outbox, actor=changed_by, action=action, target=("leader", leader_id),
            before=before, after=after, at=now,
        )  # fmt: skip
    return LeaderRead.of(await require_leader(session, leader_id))


async def set_leader_field(
    session: AsyncSession,
    *,
    leader_id: str,
    field: str,
    old: Any,
    new: Any,
    changed_by: str,
    reason: str | None,
    now: datetime,
) -> None:
    """One guarded change with its history line (and the status event when the status changes)."""
    if not await repository.update_leader_field(session, leader_id, field=field, expected=old, new=new, at=now):
        raise ConcurrentLeaderChange(f"Leader {leader_id}'s {field} changed while you were changing it")
    await repository.insert_change(
        session,
        LeaderChange(
            leader_id=leader_id,
            field=field,
            old_value=old,
            new_value=new,
            changed_by=changed_by,
            reason=reason,
            at=now,
        ),
    )
    if field == "status":
        await _publish_status(session, leader_id, new, now)
    if field in _PUBLISHED_FIELDS:
        status, level, manager_id, name = await repository.leader_state(session, leader_id)
        await _publish_state(
            session, leader_id=leader_id, status=status, level=level, manager_id=manager_id, name=name, at=now
        )


async def update_pickup_point(
    session: AsyncSession, *, user: Principal, leader_id: str, data: PickupPoint, now: datetime
) -> LeaderRead:
    if user.can(Permission.LEADERS_MANAGE):
        leader = await require_leader(session, leader_id)
    elif user.is_leader_of(leader_id):
        leader = await acting_leader(session, user, leader_id)
    else:
        raise NotYourLeaderAccount(f"Only the leader or staff managing leaders change {leader_id}'s pickup point")
    old = PickupPoint.of(leader)
    await repository.update_pickup_point(session, leader_id, columns=data.columns(), at=now)
    await repository.insert_change(
        session,
        LeaderChange(
            leader_id=leader_id,
            field="pickup_point",
            old_value=old.model_dump_json()[:300],
            new_value=data.model_dump_json()[:300],
            changed_by=user.sub,
            at=now,
        ),
    )
    if not user.is_leader_of(leader_id):  # staff moved a leader's pickup point
        before, after = audit.changed(old.model_dump(), data.model_dump())
        await audit.record(
            session, outbox, actor=user, action="leader.pickup_point_changed", target=("leader", leader_id),
            before=before, after=after, at=now,
        )  # fmt: skip
    return LeaderRead.of(await require_leader(session, leader_id))


async def list_changes(
    session: AsyncSession, *, user: Principal, leader_id: str, page: PageParams
) -> Page[LeaderChangeRead]:
    await ensure_reads_leader(session, user, leader_id)
    await require_leader(session, leader_id)
    rows = await repository.list_changes(session, leader_id, limit=page.limit + 1, after_id=page.after_int())
    return page.page(rows, key=lambda c: [c.id], convert=LeaderChangeRead.model_validate)


#: Changes other services follow through `leader.updated` (analytics: who manages a leader, at which level).
_PUBLISHED_FIELDS = frozenset({"status", "level", "manager_id"})


async def _publish_state(
    session: AsyncSession,
    *,
    leader_id: str,
    status: str,
    level: str | None,
    manager_id: str | None,
    name: str,
    at: Any,
) -> None:
    payload = LeaderUpdated(leader_id=leader_id, status=status, level=level, manager_id=manager_id, name=name, at=at)
    await outbox.record(
        session, type=LEADER_UPDATED, aggregate=f"leader:{leader_id}", data=payload.model_dump(mode="json")
    )


async def _publish_status(session: AsyncSession, leader_id: str, status: LeaderStatus, at: Any) -> None:
    payload = LeaderStatusChanged(leader_id=leader_id, status=status, at=at)
    await outbox.record(
        session, type=LEADER_STATUS_CHANGED, aggregate=f"leader:{leader_id}", data=payload.model_dump(mode="json")
    )


async def record_staff(session: AsyncSession, *, staff: StaffUpdated) -> None:
    """Keep accounts' word on a staff member: a leader sees their manager's name and contact."""
    await repository.record_manager_contact(
        session,
        ManagerContact(
            staff_id=staff.staff_id,
            display_name=staff.display_name,
            contact_phone=staff.contact_phone,
            active=staff.active,
            is_manager=StaffRole.MANAGER in staff.roles,
            changed_at=staff.at,
        ),
    )
