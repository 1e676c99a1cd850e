from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from services.common.app import NowDep
from services.common.auth import CurrentUser, CustomerUser, InvalidToken, MissingRole
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.pagination import InvalidCursor, Page, PageQuery
from services.leaders.access import NotYourLeaderAccount
from services.leaders.communities import service
from services.leaders.communities.exceptions import (
    MembershipChangedConcurrently,
    MembershipLocked,
    NoCommunity,
    NotAMember,
    SwitchingNotAllowed,
)
from services.leaders.communities.schemas import JoinResult, MemberRead, MembershipEventRead, MyCommunity
from services.leaders.config import Settings
from services.leaders.deps import LeaderDataReader, LeaderIdPath, SettingsDep
from services.leaders.profiles.exceptions import LeaderNotFound, LeaderSuspended

router = APIRouter(prefix="/api/v1/leaders/{leader_id}/members", tags=["communities"])
me_router = APIRouter(prefix="/api/v1/me/community", tags=["communities"])


def _rules(settings: Settings) -> service.SwitchingRules:
    return service.SwitchingRules(
        allowed=settings.community_switching_allowed, lock_days=settings.community_switch_lock_days
    )


@router.post(
    "",
    response_model=JoinResult,
    summary="Join this leader's community (customer); from another community this switches",
    responses=problem_docs(
        InvalidToken,
        MissingRole,
        LeaderNotFound,
        LeaderSuspended,
        SwitchingNotAllowed,
        MembershipLocked,
        MembershipChangedConcurrently,
    ),
)
async def join_community(
    leader_id: LeaderIdPath, session: SessionDep, user: CustomerUser, settings: SettingsDep, now: NowDep
) -> JoinResult:
    """A customer belongs to one community at a time; joining the same one again changes nothing."""
    return await service.join(session, customer_id=user.sub, leader_id=leader_id, rules=_rules(settings), now=now)


@router.delete(
    "/me",
    status_code=204,
    summary="Leave this leader's community (customer)",
    responses=problem_docs(InvalidToken, MissingRole, NotAMember, MembershipLocked, MembershipChangedConcurrently),
)
async def leave_community(
    leader_id: LeaderIdPath, session: SessionDep, user: CustomerUser, settings: SettingsDep, now: NowDep
) -> Response:
    await service.leave(session, customer_id=user.sub, leader_id=leader_id, rules=_rules(settings), now=now)
    return Response(status_code=204)


@router.get(
    "",
    response_model=Page[MemberRead],
    summary="Current members with their join dates, newest first (that leader; staff: leaders.read)",
    responses=problem_docs(InvalidToken, NotYourLeaderAccount, LeaderNotFound, InvalidCursor),
)
async def list_members(
    leader_id: LeaderIdPath, session: SessionDep, user: LeaderDataReader, page: PageQuery
) -> Page[MemberRead]:
    return await service.list_members(session, user=user, leader_id=leader_id, page=page)


@router.get(
    "/history",
    response_model=Page[MembershipEventRead],
    summary="Every join and leave of this community, newest first (that leader; staff: leaders.read)",
    responses=problem_docs(InvalidToken, NotYourLeaderAccount, LeaderNotFound, InvalidCursor),
)
async def list_member_history(
    leader_id: LeaderIdPath, session: SessionDep, user: LeaderDataReader, page: PageQuery
) -> Page[MembershipEventRead]:
    return await service.list_history(session, user=user, leader_id=leader_id, page=page)


@me_router.get(
    "",
    response_model=MyCommunity,
    summary="The caller's community: its leader, pickup point and region",
    responses=problem_docs(InvalidToken, NoCommunity),
)
async def get_my_community(session: SessionDep, user: CurrentUser) -> MyCommunity:
    return await service.my_community(session, customer_id=user.sub)
