"""All SQL about sign-in sessions and refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.sessions.models import LoginSession, RefreshToken


async def insert_session(session: AsyncSession, login: LoginSession) -> None:
    session.add(login)
    await session.flush()


async def insert_refresh_token(session: AsyncSession, token: RefreshToken) -> None:
    session.add(token)
    await session.flush()


async def use_refresh_token(session: AsyncSession, *, token_hash: str, now: datetime) -> str | None:
    """Mark the token used if it is unused, unexpired and its session is live; the session id when it was.

    This one statement decides between two refreshes racing with the same token: on PostgreSQL the second waits for
    the first's row lock and then finds `used_at` set; on SQLite writers are serialised by BEGIN IMMEDIATE.
    """
    live_sessions = select(LoginSession.id).where(col(LoginSession.revoked_at).is_(None))
    result = await session.exec(
        update(RefreshToken)
        .where(
            col(RefreshToken.token_hash) == token_hash,
            col(RefreshToken.used_at).is_(None),
            col(RefreshToken.expires_at) > now,
            col(RefreshToken.session_id).in_(live_sessions),
        )
        .values(used_at=now)
        .returning(col(RefreshToken.session_id))
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def get_refresh_token(session: AsyncSession, token_hash: str) -> tuple[RefreshToken, LoginSession] | None:
    query = (
        select(RefreshToken, LoginSession)
        .join(LoginSession, col(LoginSession.id) == RefreshToken.session_id)
        .where(col(RefreshToken.token_hash) == token_hash)
    )
    row = (await session.exec(query)).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def get_session(session: AsyncSession, session_id: str) -> LoginSession | None:
    return await session.get(LoginSession, session_id, populate_existing=True)


async def revoke_session(
    session: AsyncSession, session_id: str, *, reason: str, now: datetime, subject_id: str | None = None
) -> bool:
    query = update(LoginSession).where(col(LoginSession.id) == session_id, col(LoginSession.revoked_at).is_(None))
    if subject_id is not None:
        query = query.where(col(LoginSession.subject_id) == subject_id)
    result = await session.exec(
        query.values(revoked_at=now, revoked_reason=reason).execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


async def revoke_subject_sessions(session: AsyncSession, subject_id: str, *, reason: str, now: datetime) -> int:
    result = await session.exec(
        update(LoginSession)
        .where(col(LoginSession.subject_id) == subject_id, col(LoginSession.revoked_at).is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


async def list_subject_sessions(session: AsyncSession, subject_id: str) -> list[LoginSession]:
    query = (
        select(LoginSession)
        .where(col(LoginSession.subject_id) == subject_id)
        .order_by(col(LoginSession.created_at), col(LoginSession.id))
    )
    return list((await session.exec(query)).all())


async def delete_refresh_tokens_expired_before(session: AsyncSession, moment: datetime) -> int:
    result = await session.exec(delete(RefreshToken).where(col(RefreshToken.expires_at) < moment))
    return int(result.rowcount)
