from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.common.app import NowDep
from services.common.auth import (
    CustomerUser,
    InvalidToken,
    LeaderUser,
    MissingPermission,
    MissingRole,
    Principal,
    ServiceNotAllowed,
    require_permission,
    require_service,
    signed_in,
)
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.pagination import InvalidCursor, Page, PageQuery
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.leaders.access import NotYourLeaderAccount
from services.leaders.deps import LeaderIdPath
from services.leaders.ladder.exceptions import LevelNotFound
from services.leaders.profiles import service
from services.leaders.profiles.exceptions import (
    AlreadyALeader,
    ApplicationAlreadyDecided,
    ApplicationAlreadyPending,
    ApplicationNotFound,
    ConcurrentLeaderChange,
    LeaderAccountSuspended,
    LeaderNotFound,
    NotYourLeaders,
)
from services.leaders.profiles.schemas import (
    ApplicationApprove,
    ApplicationCreate,
    ApplicationFilters,
    ApplicationRead,
    ApplicationReject,
    InternalLeader,
    LeaderChangeRead,
    LeaderFilters,
    LeaderPublic,
    LeaderRead,
    LeaderUpdate,
    PickupPoint,
)

applications_router = APIRouter(prefix="/api/v1/leader-applications", tags=["leader applications"])
leaders_router = APIRouter(prefix="/api/v1/leaders", tags=["leaders"])
internal_router = APIRouter(prefix="/internal/leaders", tags=["internal"])

ApplicationId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Application id")]

LeaderReaders = Annotated[Principal, Depends(require_permission(Permission.LEADERS_READ))]
LeaderAdmins = Annotated[Principal, Depends(require_permission(Permission.LEADERS_MANAGE))]
#: Anyone signed in for their own things; staff with `leaders.read` for any leader (a manager: theirs).
SignedInOrLeaderReader = Annotated[Principal, Depends(signed_in(Permission.LEADERS_READ))]
SignedInOrLeaderAdmin = Annotated[Principal, Depends(signed_in(Permission.LEADERS_MANAGE))]
OrdersService = Annotated[Principal, Depends(require_service("orders"))]


@applications_router.post(
    "",
    status_code=201,
    response_model=ApplicationRead,
    summary="Apply to become a leader (customer)",
    responses=problem_docs(InvalidToken, MissingRole, AlreadyALeader, ApplicationAlreadyPending),
)
async def apply_to_lead(body: ApplicationCreate, session: SessionDep, user: CustomerUser) -> ApplicationRead:
    """Name, phone and the pickup point the customer will run; ops approve or reject it."""
    return await service.apply(session, applicant_id=user.sub, data=body)


@applications_router.get(
    "",
    response_model=Page[ApplicationRead],
    summary="List applications (staff reading every leader: all; others: their own)",
    responses=problem_docs(InvalidToken, InvalidCursor),
)
async def list_applications(
    session: SessionDep,
    user: SignedInOrLeaderReader,
    filters: Annotated[ApplicationFilters, Query()],
) -> Page[ApplicationRead]:
    return await service.list_applications(session, user=user, page=filters.page_params(), status=filters.status)


@applications_router.get(
    "/{application_id}",
    response_model=ApplicationRead,
    summary="Read an application (the applicant; staff: leaders.read)",
    responses=problem_docs(InvalidToken, ApplicationNotFound),
)
async def get_application(
    application_id: ApplicationId, session: SessionDep, user: SignedInOrLeaderReader
) -> ApplicationRead:
    return await service.get_application(session, user=user, application_id=application_id)


@applications_router.post(
    "/{application_id}/approve",
    response_model=LeaderRead,
    summary="Approve an application: the applicant becomes an active leader (staff: leaders.manage)",
    responses=problem_docs(
        InvalidToken, MissingPermission, ApplicationNotFound, ApplicationAlreadyDecided, AlreadyALeader, LevelNotFound
    ),
)
async def approve_application(
    application_id: ApplicationId,
    session: SessionDep,
    user: LeaderAdmins,
    now: NowDep,
    body: ApplicationApprove | None = None,
) -> LeaderRead:
    """Optionally name the operations manager and a starting level."""
    return await service.approve_application(
        session, application_id=application_id, decided_by=user.sub, data=body or ApplicationApprove(), now=now
    )


@applications_router.post(
    "/{application_id}/reject",
    response_model=ApplicationRead,
    summary="Reject an application with a reason (staff: leaders.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, ApplicationNotFound, ApplicationAlreadyDecided),
)
async def reject_application(
    application_id: ApplicationId, body: ApplicationReject, session: SessionDep, user: LeaderAdmins, now: NowDep
) -> ApplicationRead:
    return await service.reject_application(
        session, application_id=application_id, decided_by=user.sub, data=body, now=now
    )


@leaders_router.get(
    "",
    response_model=Page[LeaderRead],
    summary="List leaders (staff: leaders.read; a manager lists their own)",
    responses=problem_docs(InvalidToken, MissingPermission, NotYourLeaders, InvalidCursor),
)
async def list_leaders(
    session: SessionDep,
    user: LeaderReaders,
    filters: Annotated[LeaderFilters, Query()],
) -> Page[LeaderRead]:
    """`manager_id=me` lists the caller's own leaders; a manager gets only theirs (403 NOT_YOUR_LEADERS when they
    name another manager)."""
    return await service.list_leaders(
        session, user=user, page=filters.page_params(), status=filters.status, manager_id=filters.manager_id
    )


@leaders_router.get(
    "/me",
    response_model=LeaderRead,
    summary="The calling leader's own profile, level, pickup point and manager",
    responses=problem_docs(InvalidToken, MissingRole, LeaderNotFound),
)
async def get_my_profile(session: SessionDep, user: LeaderUser) -> LeaderRead:
    """With the manager's name and contact: whom to call about the pickup point."""
    return await service.my_profile(session, leader_id=user.sub)


@leaders_router.get(
    "/{leader_id}",
    response_model=LeaderRead | LeaderPublic,
    summary="A leader's profile: public fields for anyone, all fields for the leader, their manager and staff",
    responses=problem_docs(InvalidToken, LeaderNotFound),
)
async def get_leader(
    leader_id: LeaderIdPath, session: SessionDep, user: SignedInOrLeaderReader
) -> LeaderRead | LeaderPublic:
    return await service.get_leader(session, user=user, leader_id=leader_id)


@leaders_router.patch(
    "/{leader_id}",
    response_model=LeaderRead,
    summary="Suspend or reinstate a leader, set the level or the manager (staff: leaders.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, LeaderNotFound, LevelNotFound, ConcurrentLeaderChange),
)
async def update_leader(
    leader_id: LeaderIdPath, body: LeaderUpdate, session: SessionDep, user: LeaderAdmins, now: NowDep
) -> LeaderRead:
    """Every change is kept in the leader's history with who made it and `reason`."""
    return await service.update_leader(session, leader_id=leader_id, changed_by=user.sub, data=body, now=now)


@leaders_router.put(
    "/{leader_id}/pickup-point",
    response_model=LeaderRead,
    summary="Change the pickup point (the active leader; staff: leaders.manage)",
    responses=problem_docs(InvalidToken, NotYourLeaderAccount, LeaderAccountSuspended, LeaderNotFound),
)
async def update_pickup_point(
    leader_id: LeaderIdPath, body: PickupPoint, session: SessionDep, user: SignedInOrLeaderAdmin, now: NowDep
) -> LeaderRead:
    return await service.update_pickup_point(session, user=user, leader_id=leader_id, data=body, now=now)


@leaders_router.get(
    "/{leader_id}/history",
    response_model=Page[LeaderChangeRead],
    summary="Who changed what on this leader and why, newest first (the leader; staff: leaders.read)",
    responses=problem_docs(InvalidToken, NotYourLeaderAccount, LeaderNotFound, InvalidCursor),
)
async def list_leader_history(
    leader_id: LeaderIdPath, session: SessionDep, user: SignedInOrLeaderReader, page: PageQuery
) -> Page[LeaderChangeRead]:
    return await service.list_changes(session, user=user, leader_id=leader_id, page=page)


@internal_router.get(
    "/{leader_id}",
    response_model=InternalLeader,
    summary="A leader's status, level and pickup point, for other services (the orders service)",
    responses=problem_docs(InvalidToken, ServiceNotAllowed, LeaderNotFound),
)
async def get_internal_leader(leader_id: LeaderIdPath, session: SessionDep, user: OrdersService) -> InternalLeader:
    return await service.get_internal_leader(session, leader_id=leader_id)
