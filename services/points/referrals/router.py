from __future__ import annotations

from fastapi import APIRouter

from services.common.auth import CustomerUser, InvalidToken, MissingRole
from services.common.db import SessionDep, WritingSessionDep
from services.common.errors import problem_docs
from services.common.pagination import InvalidCursor, Page, PageQuery
from services.points.deps import NowDep, SettingsDep
from services.points.ledger.service import welcome
from services.points.referrals import service
from services.points.referrals.exceptions import AlreadyBound, InviteCodeNotFound, ReferralCycle, SelfInvite
from services.points.referrals.schemas import BindingRead, BindRequest, InviteeRead, ReferralsRead, TasksRead

router = APIRouter(prefix="/api/v1/referrals", tags=["referrals"])
tasks_router = APIRouter(prefix="/api/v1/points/tasks", tags=["points"])


@router.get(
    "/me",
    response_model=ReferralsRead,
    summary="My invite code, who invited me, my invitees and rewards",
    responses=problem_docs(InvalidToken, MissingRole),
)
async def get_my_referrals(
    session: WritingSessionDep, user: CustomerUser, now: NowDep, settings: SettingsDep
) -> ReferralsRead:
    await welcome(session, user_id=user.sub, now=now, tz=settings.tz)
    return await service.my_referrals(session, user_id=user.sub, now=now)


@router.get(
    "/me/invitees",
    response_model=Page[InviteeRead],
    summary="All my invitees and their state, newest first",
    responses=problem_docs(InvalidToken, MissingRole, InvalidCursor),
)
async def list_my_invitees(session: SessionDep, user: CustomerUser, page: PageQuery) -> Page[InviteeRead]:
    return await service.list_invitees(session, user_id=user.sub, page=page)


@router.post(
    "/bind",
    response_model=BindingRead,
    summary="Bind me to the owner of an invite code",
    responses=problem_docs(InvalidToken, MissingRole, InviteCodeNotFound, SelfInvite, ReferralCycle, AlreadyBound),
)
async def bind_to_inviter(
    body: BindRequest, session: SessionDep, user: CustomerUser, now: NowDep, settings: SettingsDep
) -> BindingRead:
    """Once per user; binding again with the same code returns the binding. No self-invites, no cycles."""
    await welcome(session, user_id=user.sub, now=now, tz=settings.tz)
    return await service.bind(session, invitee_id=user.sub, code=body.code, now=now)


@tasks_router.get(
    "",
    response_model=TasksRead,
    summary="My multi-tier invitation tasks: progress and tiers rewarded",
    responses=problem_docs(InvalidToken, MissingRole),
)
async def get_my_tasks(session: WritingSessionDep, user: CustomerUser, now: NowDep, settings: SettingsDep) -> TasksRead:
    await welcome(session, user_id=user.sub, now=now, tz=settings.tz)
    return await service.my_tasks(session, user_id=user.sub)
