from __future__ import annotations

from fastapi import APIRouter

from services.accounts.deps import CustomerUser, NowDep
from services.accounts.privacy import service
from services.accounts.privacy.exceptions import ExportSourceUnavailable
from services.accounts.privacy.schemas import PersonalDataExport
from services.accounts.privacy.sources import ExportSourcesDep
from services.accounts.users.exceptions import UserErased, UserNotFound
from services.common.auth import InvalidToken, MissingRole
from services.common.db import SessionDep
from services.common.errors import problem_docs

router = APIRouter(prefix="/api/v1/me", tags=["me"])


@router.get(
    "/export",
    response_model=PersonalDataExport,
    summary="Everything the platform holds about me, as JSON",
    responses=problem_docs(InvalidToken, MissingRole, UserNotFound, UserErased, ExportSourceUnavailable),
)
async def export_my_data(
    session: SessionDep, caller: CustomerUser, sources: ExportSourcesDep, now: NowDep
) -> PersonalDataExport:
    """Complete or not at all: when a service cannot answer, the problem names it and nothing partial is given."""
    return await service.export_user(session, user_id=caller.sub, sources=sources, now=now)


@router.delete(
    "",
    status_code=204,
    summary="Erase me: my personal data is anonymised everywhere, money records stay",
    responses=problem_docs(InvalidToken, MissingRole, UserNotFound),
)
async def erase_me(session: SessionDep, caller: CustomerUser, now: NowDep) -> None:
    """Irreversible. Every session ends; signing in again with the same WeChat account starts a new user."""
    await service.erase_user(session, user_id=caller.sub, now=now)
