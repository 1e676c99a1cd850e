from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from services.common.auth import (
    CustomerUser,
    InvalidToken,
    MissingPermission,
    MissingRole,
    Principal,
    require_permission,
)
from services.common.db import SessionDep, WritingSessionDep
from services.common.errors import problem_docs
from services.common.idempotency import IdempotencyKeyReused, OptionalIdempotencyKey, run_idempotent
from services.common.pagination import InvalidCursor, Page, PageQuery
from services.common.permissions import Permission
from services.common.text import SINGLE_LINE_PATTERN
from services.points.deps import NowDep, SettingsDep
from services.points.ledger import service
from services.points.ledger.exceptions import AccountNotFound, InsufficientPoints
from services.points.ledger.schemas import AccountRead, AdjustmentCreate, EntryRead, OpsEntryRead

router = APIRouter(prefix="/api/v1/points", tags=["points"])


PointsStaff = Annotated[Principal, Depends(require_permission(Permission.POINTS_MANAGE))]

UserIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=SINGLE_LINE_PATTERN, description="The user's id (JWT `sub`)")
]


@router.get(
    "/me",
    response_model=AccountRead,
    summary="My points: balance, held, earned, expiring soon",
    responses=problem_docs(InvalidToken, MissingRole),
)
async def get_my_account(
    session: WritingSessionDep, user: CustomerUser, now: NowDep, settings: SettingsDep
) -> AccountRead:
    await service.welcome(session, user_id=user.sub, now=now, tz=settings.tz)
    return await service.read_account(
        session, user_id=user.sub, now=now, tz=settings.tz, window_days=settings.expiring_window_days
    )


@router.get(
    "/me/entries",
    response_model=Page[EntryRead],
    summary="My points ledger, newest first",
    responses=problem_docs(InvalidToken, MissingRole, InvalidCursor),
)
async def list_my_entries(session: SessionDep, user: CustomerUser, page: PageQuery) -> Page[EntryRead]:
    return await service.list_entries(session, user_id=user.sub, page=page)


@router.get(
    "/users/{user_id}",
    response_model=AccountRead,
    summary="Any user's points account (staff: points.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, AccountNotFound),
)
async def get_user_account(
    user_id: UserIdPath, session: SessionDep, user: PointsStaff, now: NowDep, settings: SettingsDep
) -> AccountRead:
    return await service.read_account(
        session,
        user_id=user_id,
        now=now,
        tz=settings.tz,
        window_days=settings.expiring_window_days,
        must_exist=True,
        expire_due=False,
    )


@router.get(
    "/users/{user_id}/entries",
    response_model=Page[OpsEntryRead],
    summary="Any user's points ledger, newest first (staff: points.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, InvalidCursor),
)
async def list_user_entries(
    user_id: UserIdPath, session: SessionDep, user: PointsStaff, page: PageQuery
) -> Page[OpsEntryRead]:
    return await service.list_entries_for_ops(session, user_id=user_id, page=page)


@router.post(
    "/adjustments",
    status_code=201,
    response_model=OpsEntryRead,
    summary="Adjust a user's points by hand, with a reason (staff: points.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, InsufficientPoints, IdempotencyKeyReused),
)
async def create_adjustment(
    body: AdjustmentCreate,
    session: SessionDep,
    user: PointsStaff,
    now: NowDep,
    settings: SettingsDep,
    idempotency: OptionalIdempotencyKey,
) -> Response:
    """The entry records who made it and why. A negative adjustment beyond the balance needs `allow_negative`."""
    return await run_idempotent(
        session,
        idempotency,
        body,
        lambda: service.adjust(
            session,
            user_id=body.user_id,
            points=body.points,
            reason=body.reason,
            allow_negative=body.allow_negative,
            actor=user.sub,
            now=now,
            tz=settings.tz,
        ),
    )
