"""Users: one per WeChat identity, their profile, their phone number (masked for others), their leader role."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.users import repository
from services.accounts.users.exceptions import BirthdayNotInPast, UserErased, UserNotFound
from services.accounts.users.models import User, WeChatIdentity
from services.accounts.users.schemas import UserRead, UserUpdate
from services.accounts.wechat.provider import WeChatProvider, WeChatSession
from services.common.auth import Principal
from services.common.clock import as_utc, local_date
from services.common.permissions import Permission

EARLIEST_BIRTHDAY = date(1900, 1, 1)


def new_user_id() -> str:
    return "u_" + secrets.token_hex(8)


def mask_phone(phone: str) -> str:
    """`13800000000` -> `138****0000`; a short number keeps only its last two digits."""
    if len(phone) >= 11:
        return f"{phone[:3]}****{phone[-4:]}"
    return "****" + phone[-2:]


def user_read(user: User, *, full_phone: bool) -> UserRead:
    phone = user.phone if full_phone or user.phone is None else mask_phone(user.phone)
    return UserRead(
        id=user.id,
        nickname=user.nickname,
        avatar_url=user.avatar_url,
        region=user.region,
        birthday=user.birthday,
        phone=phone,
        phone_country_code=user.phone_country_code,
        created_at=user.created_at,
    )


async def require_user(session: AsyncSession, user_id: str) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise UserNotFound(f"User {user_id} does not exist")
    if user.erased_at is not None:
        raise UserErased(f"User {user_id} was erased")
    return user


async def user_for_wechat(session: AsyncSession, *, identity: WeChatSession, now: datetime) -> User:
    """The user this WeChat identity signs in as, created on its first sign-in."""
    for _ in range(2):
        found = await repository.find_identity(
            session, appid=identity.appid, openid=identity.openid, unionid=identity.unionid
        )
        if found is not None:
            if identity.unionid is not None and found.unionid is None:
                assert found.id is not None
                await repository.attach_unionid(session, found.id, identity.unionid)
            return await require_user(session, found.user_id)
        user = User(id=new_user_id(), created_at=now, updated_at=now)
        link = WeChatIdentity(
            user_id=user.id, appid=identity.appid, openid=identity.openid, unionid=identity.unionid, created_at=now
        )
        if await repository.insert_user_with_identity(session, user, link):
            return user
        # Another sign-in of the same person created the user between our lookup and insert: use theirs.
    raise RuntimeError("a WeChat identity was neither found nor created")


async def get_me(session: AsyncSession, *, user_id: str) -> UserRead:
    return user_read(await require_user(session, user_id), full_phone=True)


async def get_user(session: AsyncSession, *, caller: Principal, user_id: str) -> UserRead:
    user = await require_user(session, user_id)
    return user_read(user, full_phone=caller.sub == user.id or caller.can(Permission.USERS_READ))


async def update_me(session: AsyncSession, *, user_id: str, data: UserUpdate, now: datetime, tz: ZoneInfo) -> UserRead:
    values = data.model_dump(include=data.model_fields_set)
    birthday = values.get("birthday")
    if birthday is not None and not EARLIEST_BIRTHDAY <= birthday < local_date(now, tz):
        raise BirthdayNotInPast(f"{birthday.isoformat()} is not a birthday in the past")
    if values and not await repository.update_profile(session, user_id, values=values, now=now):
        await require_user(session, user_id)  # raises: missing or erased
    return await get_me(session, user_id=user_id)


async def set_phone(
    session: AsyncSession, *, user_id: str, wechat: WeChatProvider, code: str, now: datetime
) -> UserRead:
    # WeChat first: on SQLite the first statement takes the write lock, which must not wait on the network.
    phone = await wechat.phone_number(code)
    values = {"phone": phone.pure_phone_number, "phone_country_code": phone.country_code}
    if not await repository.update_profile(session, user_id, values=values, now=now):
        await require_user(session, user_id)
    return await get_me(session, user_id=user_id)


async def record_leader_status(
    session: AsyncSession, *, user_id: str, status: str, at: datetime, event_id: str
) -> None:
    await repository.record_leader_status(
        session, user_id=user_id, status=status, changed_at=as_utc(at), event_id=event_id
    )
