"""Sign-in sessions (token families): starting one with its first refresh token, and the token pair it answers with.

Starting a session is shared by every way in (WeChat, staff passwords); rotating and ending one are the auth
resource's (`services/accounts/auth/service.py`), which also decides the roles a token carries.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.config import Settings
from services.accounts.keys.issuer import TokenIssuer
from services.accounts.sessions import repository
from services.accounts.sessions.models import LoginSession, RefreshToken
from services.accounts.sessions.schemas import TokenPair, TokenUser
from services.common.jwks import PUBLIC_AUDIENCE

USER, STAFF = "user", "staff"


def refresh_token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def new_refresh_token(session: AsyncSession, *, session_id: str, now: datetime, settings: Settings) -> str:
    raw = secrets.token_urlsafe(32)
    await repository.insert_refresh_token(
        session,
        RefreshToken(
            token_hash=refresh_token_hash(raw),
            session_id=session_id,
            issued_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        ),
    )
    return raw


def token_pair(
    issuer: TokenIssuer, *, subject_id: str, roles: list[str], session_id: str, refresh: str, now: datetime,
    settings: Settings,
) -> TokenPair:  # fmt: skip
    access = issuer.sign(
        sub=subject_id,
        roles=roles,
        audience=PUBLIC_AUDIENCE,
        ttl_seconds=settings.access_token_ttl_seconds,
        now=now,
        session_id=session_id,
    )
    return TokenPair(
        access_token=access.token,
        refresh_token=refresh,
        expires_in=access.expires_in,
        user=TokenUser(id=subject_id, roles=sorted(roles)),
    )


async def start_session(
    session: AsyncSession,
    *,
    issuer: TokenIssuer,
    kind: str,
    subject_id: str,
    roles: list[str],
    now: datetime,
    settings: Settings,
) -> TokenPair:
    """A new session with its first refresh token, and an access token for it."""
    session_id = "ses_" + secrets.token_hex(12)
    await repository.insert_session(
        session, LoginSession(id=session_id, subject_id=subject_id, subject_kind=kind, created_at=now)
    )
    refresh = await new_refresh_token(session, session_id=session_id, now=now, settings=settings)
    return token_pair(
        issuer, subject_id=subject_id, roles=roles, session_id=session_id, refresh=refresh, now=now, settings=settings
    )
