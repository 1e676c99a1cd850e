from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.accounts.deps import NowDep, StaffAdmin
from services.accounts.staff import service
from services.accounts.staff.exceptions import (
    CannotDemoteYourself,
    StaffChangedConcurrently,
    StaffNotFound,
    StaffUsernameTaken,
)
from services.accounts.staff.passwords import PasswordsDep
from services.accounts.staff.schemas import StaffCreate, StaffFilters, StaffRead, StaffUpdate
from services.common.auth import MissingPermission
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.jwks import InvalidToken
from services.common.pagination import InvalidCursor, Page
from services.common.text import SINGLE_LINE_PATTERN

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])

StaffIdPath = Annotated[
    str, Path(min_length=1, max_length=40, pattern=SINGLE_LINE_PATTERN, description="The staff account's id (`s_...`)")
]


@router.post(
    "",
    status_code=201,
    response_model=StaffRead,
    summary="Create a staff account (staff: staff.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, StaffUsernameTaken),
)
async def create_staff(
    body: StaffCreate, session: SessionDep, caller: StaffAdmin, passwords: PasswordsDep, now: NowDep
) -> StaffRead:
    return await service.create_staff(session, passwords=passwords, data=body, created_by=caller.sub, now=now)


@router.get(
    "",
    response_model=Page[StaffRead],
    summary="List staff accounts by username (staff: staff.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, InvalidCursor),
)
async def list_staff(
    session: SessionDep,
    caller: StaffAdmin,
    filters: Annotated[StaffFilters, Query()],
) -> Page[StaffRead]:
    return await service.list_staff(session, page=filters.page_params(), role=filters.role, active=filters.active)


@router.get(
    "/{staff_id}",
    response_model=StaffRead,
    summary="Read a staff account (staff: staff.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, StaffNotFound),
)
async def get_staff(staff_id: StaffIdPath, session: SessionDep, caller: StaffAdmin) -> StaffRead:
    return await service.get_staff(session, staff_id=staff_id)


@router.patch(
    "/{staff_id}",
    response_model=StaffRead,
    summary="Change a staff account's roles, name, contact, activity or password (staff: staff.manage)",
    responses=problem_docs(
        InvalidToken, MissingPermission, StaffNotFound, StaffChangedConcurrently, CannotDemoteYourself
    ),
)
async def update_staff(
    staff_id: StaffIdPath,
    body: StaffUpdate,
    session: SessionDep,
    caller: StaffAdmin,
    passwords: PasswordsDep,
    now: NowDep,
) -> StaffRead:
    return await service.update_staff(
        session, passwords=passwords, staff_id=staff_id, data=body, changed_by=caller.sub, now=now
    )
