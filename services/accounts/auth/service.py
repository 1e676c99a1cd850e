"""Sign-in sessions: a pair of tokens per sign-in, refresh tokens rotated on every use, reuse ends the session.

An access token is a short-lived JWT whose roles are computed when it is issued, so a change in the data (a leader
approved or suspended, a staff duty added) shows in the next token, at the latest one access-token lifetime later.
A refresh token is opaque and stored only as its SHA-256. Each belongs to a session (a token family): using one
marks it used and issues the next; presenting a used one again means it was copied, so the whole family is revoked.
The session rows and starting a session are `services/accounts/sessions/`, shared with the staff sign-in.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.auth.exceptions import (
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    SessionEnded,
)
from services.accounts.config import Settings
from services.accounts.keys.issuer import TokenIssuer
from services.accounts.roles import CUSTOMER, LEADER
from services.accounts.sessions import repository
from services.accounts.sessions import service as sessions
from services.accounts.sessions.schemas import AccessToken, TokenPair
from services.accounts.staff import repository as staff_repository
from services.accounts.users import repository as users_repository
from services.accounts.users import service as users_service
from services.accounts.wechat.provider import WeChatProvider
from services.common.db import Database
from services.common.errors import DomainError
from services.common.jwks import PUBLIC_AUDIENCE

log = logging.getLogger("services.accounts.sessions")


async def roles_of(session: AsyncSession, *, kind: str, subject_id: str) -> list[str] | None:
    """The roles a new token for this subject carries now; None when the subject may no longer sign in."""
    if kind == sessions.STAFF:
        staff = await staff_repository.get_staff(session, subject_id)
        if staff is None or not staff.active:
            return None
        return await staff_repository.roles_of(session, subject_id)
    user = await users_repository.get_user(session, subject_id)
    if user is None or user.erased_at is not None:
        return None
    roles = [CUSTOMER]
    if await users_repository.is_active_leader(session, subject_id):
        roles.append(LEADER)
    return roles


async def sign_in_with_wechat(
    session: AsyncSession,
    *,
    wechat: WeChatProvider,
    code: str,
    issuer: TokenIssuer,
    now: datetime,
    settings: Settings,
) -> TokenPair:
    """The user behind a wx.login() code (created on their first sign-in) gets a new session."""
    identity = await wechat.code2session(code)
    user = await users_service.user_for_wechat(session, identity=identity, now=now)
    roles = await roles_of(session, kind=sessions.USER, subject_id=user.id)
    if roles is None:  # an erased user's identity is unlinked, so this is only a race with the erasure
        raise SessionEnded("This account was erased while signing in; sign in again")
    return await sessions.start_session(
        session, issuer=issuer, kind=sessions.USER, subject_id=user.id, roles=roles, now=now, settings=settings
    )


async def refresh(db: Database, *, raw_token: str, issuer: TokenIssuer, now: datetime, settings: Settings) -> TokenPair:
    """Exchange a refresh token for a new pair.

    The transaction is ours, not the request's: a reused token must revoke its family *and* answer 401, so the
    revocation commits before the error is raised.
    """
    async with db.transaction() as session:
        outcome = await _rotate(session, raw_token=raw_token, issuer=issuer, now=now, settings=settings)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


async def _rotate(
    session: AsyncSession, *, raw_token: str, issuer: TokenIssuer, now: datetime, settings: Settings
) -> TokenPair | DomainError:
    token_hash = sessions.refresh_token_hash(raw_token)
    session_id = await repository.use_refresh_token(session, token_hash=token_hash, now=now)
    if session_id is None:
        found = await repository.get_refresh_token(session, token_hash)
        if found is None:
            return RefreshTokenInvalid()
        token, login = found
        if token.used_at is not None or login.revoked_at is not None:
            if await repository.revoke_session(session, login.id, reason="reuse", now=now):
                log.warning("refresh token reused; session revoked", extra={"session_id": login.id})
            return RefreshTokenReused()
        return RefreshTokenExpired()
    live = await repository.get_session(session, session_id)
    assert live is not None  # the token's foreign key
    roles = await roles_of(session, kind=live.subject_kind, subject_id=live.subject_id)
    if roles is None:
        await repository.revoke_session(session, live.id, reason="account_closed", now=now)
        return SessionEnded()
    refresh_token = await sessions.new_refresh_token(session, session_id=session_id, now=now, settings=settings)
    return sessions.token_pair(
        issuer,
        subject_id=live.subject_id,
        roles=roles,
        session_id=session_id,
        refresh=refresh_token,
        now=now,
        settings=settings,
    )


async def logout(session: AsyncSession, *, subject_id: str, session_id: str | None, now: datetime) -> None:
    """End the caller's session; its refresh tokens stop working (its access token lives out its few minutes)."""
    if session_id is not None:
        await repository.revoke_session(session, session_id, reason="logout", now=now, subject_id=subject_id)


async def issue_dev_token(
    session: AsyncSession, *, issuer: TokenIssuer, sub: str, roles: list[str], now: datetime, settings: Settings
) -> AccessToken:
    """Any subject with any person role (never `service`); a customer gets a users row so /me works for them."""
    if CUSTOMER in roles or LEADER in roles:
        await users_repository.ensure_user(session, sub, now=now)
    token = issuer.sign(
        sub=sub, roles=roles, audience=PUBLIC_AUDIENCE, ttl_seconds=settings.dev_token_ttl_seconds, now=now
    )
    return AccessToken(access_token=token.token, expires_in=token.expires_in)
