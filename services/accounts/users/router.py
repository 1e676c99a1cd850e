from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.accounts.deps import CustomerUser, NowDep, SettingsDep, UserReader
from services.accounts.users import service
from services.accounts.users.exceptions import BirthdayNotInPast, UserErased, UserNotFound
from services.accounts.users.schemas import PhoneCode, UserRead, UserUpdate
from services.accounts.wechat.exceptions import (
    WeChatCodeInvalid,
    WeChatCodeUsed,
    WeChatRateLimited,
    WeChatUnavailable,
)
from services.accounts.wechat.provider import WeChatDep
from services.common.auth import InvalidToken, MissingPermission, MissingRole
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.text import SINGLE_LINE_PATTERN

me_router = APIRouter(prefix="/api/v1/me", tags=["me"])
users_router = APIRouter(prefix="/api/v1/users", tags=["users"])

UserIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=SINGLE_LINE_PATTERN, description="The user's id (`sub`)")
]


@me_router.get(
    "",
    response_model=UserRead,
    summary="My profile",
    responses=problem_docs(InvalidToken, MissingRole, UserNotFound, UserErased),
)
async def get_me(session: SessionDep, caller: CustomerUser) -> UserRead:
    return await service.get_me(session, user_id=caller.sub)


@me_router.patch(
    "",
    response_model=UserRead,
    summary="Change my nickname, avatar, region or birthday",
    responses=problem_docs(InvalidToken, MissingRole, UserNotFound, UserErased, BirthdayNotInPast),
)
async def update_me(
    body: UserUpdate, session: SessionDep, caller: CustomerUser, now: NowDep, settings: SettingsDep
) -> UserRead:
    return await service.update_me(session, user_id=caller.sub, data=body, now=now, tz=settings.tz)


@me_router.post(
    "/phone",
    response_model=UserRead,
    summary="Set my phone number from the mini-program's getPhoneNumber code",
    responses=problem_docs(
        InvalidToken, MissingRole, UserNotFound, UserErased, WeChatCodeInvalid, WeChatCodeUsed, WeChatRateLimited,
        WeChatUnavailable,
    ),
)  # fmt: skip
async def set_my_phone(
    body: PhoneCode, session: SessionDep, caller: CustomerUser, wechat: WeChatDep, now: NowDep
) -> UserRead:
    return await service.set_phone(session, user_id=caller.sub, wechat=wechat, code=body.code, now=now)


@users_router.get(
    "/{user_id}",
    response_model=UserRead,
    summary="A user's profile (staff: users.lookup; the phone is masked without users.read)",
    responses=problem_docs(InvalidToken, MissingPermission, UserNotFound, UserErased),
)
async def get_user(user_id: UserIdPath, session: SessionDep, caller: UserReader) -> UserRead:
    return await service.get_user(session, caller=caller, user_id=user_id)
