from __future__ import annotations

from fastapi import APIRouter

from services.common.auth import CustomerUser, InvalidToken, MissingRole
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.points.deps import NowDep, SettingsDep
from services.points.ledger.service import welcome
from services.points.signins import service
from services.points.signins.exceptions import AlreadySignedIn
from services.points.signins.schemas import SignInRead

router = APIRouter(prefix="/api/v1/points/sign-ins", tags=["points"])


@router.post(
    "",
    status_code=201,
    response_model=SignInRead,
    summary="Sign in for today",
    responses=problem_docs(InvalidToken, MissingRole, AlreadySignedIn),
)
async def sign_in(session: SessionDep, user: CustomerUser, now: NowDep, settings: SettingsDep) -> SignInRead:
    """One sign-in per business day; the streak grows on consecutive days and restarts after a missed one."""
    await welcome(session, user_id=user.sub, now=now, tz=settings.tz)
    return await service.sign_in(session, user_id=user.sub, now=now, tz=settings.tz)
