"""All SQL about users, their WeChat identities and their leader role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.users.models import LeaderRole, User, WeChatIdentity


def _upsert(session: AsyncSession, model: Any) -> Any:
    """INSERT ... ON CONFLICT of the session's database (both dialects spell it the same way)."""
    bind = session.get_bind()
    return (postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert)(model)


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id, populate_existing=True)


async def ensure_user(session: AsyncSession, user_id: str, *, now: datetime) -> None:
    """A users row for `user_id` unless there is one (development tokens name users accounts never saw)."""
    statement = _upsert(session, User).values(id=user_id, created_at=now, updated_at=now)
    await session.exec(statement.on_conflict_do_nothing(index_elements=["id"]))


async def find_identity(
    session: AsyncSession, *, appid: str, openid: str, unionid: str | None
) -> WeChatIdentity | None:
    """By unionid first (one person across the platform's WeChat apps), else by this app's openid."""
    if unionid is not None:
        query = select(WeChatIdentity).where(WeChatIdentity.unionid == unionid)
        found = (await session.exec(query)).first()
        if found is not None:
            return found
    query = select(WeChatIdentity).where(WeChatIdentity.appid == appid, WeChatIdentity.openid == openid)
    return (await session.exec(query)).first()


async def insert_user_with_identity(session: AsyncSession, user: User, identity: WeChatIdentity) -> bool:
    """False when the identity was linked meanwhile (two first sign-ins at once): nothing is written then."""
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
            session.add(identity)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def attach_unionid(session: AsyncSession, identity_id: int, unionid: str) -> None:
    """Remember a unionid WeChat gives now for an identity first seen without one (best effort)."""
    try:
        async with session.begin_nested():
            await session.exec(
                update(WeChatIdentity)
                .where(col(WeChatIdentity.id) == identity_id, col(WeChatIdentity.unionid).is_(None))
                .values(unionid=unionid)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        pass  # another identity row holds it already; lookups by unionid find that one


async def list_identities(session: AsyncSession, user_id: str) -> list[WeChatIdentity]:
    query = select(WeChatIdentity).where(WeChatIdentity.user_id == user_id).order_by(col(WeChatIdentity.id))
    return list((await session.exec(query)).all())


async def delete_identities(session: AsyncSession, user_id: str) -> None:
    await session.exec(delete(WeChatIdentity).where(col(WeChatIdentity.user_id) == user_id))


async def update_profile(session: AsyncSession, user_id: str, *, values: dict[str, Any], now: datetime) -> bool:
    """Change profile fields of a user who is not erased; False otherwise."""
    result = await session.exec(
        update(User)
        .where(col(User.id) == user_id, col(User.erased_at).is_(None))
        .values(**values, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def erase_user(session: AsyncSession, user_id: str, *, now: datetime) -> bool:
    """Clear everything personal; False when there is no such user or they were erased before."""
    result = await session.exec(
        update(User)
        .where(col(User.id) == user_id, col(User.erased_at).is_(None))
        .values(
            nickname=None,
            avatar_url=None,
            region=None,
            birthday=None,
            phone=None,
            phone_country_code=None,
            updated_at=now,
            erased_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def is_active_leader(session: AsyncSession, user_id: str) -> bool:
    role = await session.get(LeaderRole, user_id, populate_existing=True)
    return role is not None and role.status == "active"


async def get_leader_role(session: AsyncSession, user_id: str) -> LeaderRole | None:
    return await session.get(LeaderRole, user_id, populate_existing=True)


async def record_leader_status(
    session: AsyncSession, *, user_id: str, status: str, changed_at: datetime, event_id: str
) -> None:
    """Keep the newest status leaders reported: an older event arriving late changes nothing."""
    values = {"user_id": user_id, "status": status, "changed_at": changed_at, "event_id": event_id}
    statement = _upsert(session, LeaderRole).values(**values)
    excluded = statement.excluded
    await session.exec(
        statement.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"status": excluded.status, "changed_at": excluded.changed_at, "event_id": excluded.event_id},
            where=col(LeaderRole.changed_at) <= excluded.changed_at,
        )
    )


async def openid_in_app(session: AsyncSession, *, user_id: str, appid: str) -> str | None:
    """The user's openid in one mini-program (the payer or payee WeChat Pay needs)."""
    query = (
        select(WeChatIdentity.openid)
        .where(WeChatIdentity.user_id == user_id, WeChatIdentity.appid == appid)
        .order_by(col(WeChatIdentity.id))
    )
    return (await session.exec(query)).first()
