from __future__ import annotations

from fastapi import APIRouter

from services.accounts.auth import service
from services.accounts.auth.exceptions import (
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    SessionEnded,
)
from services.accounts.auth.schemas import DevTokenRequest, RefreshRequest, WeChatSignIn
from services.accounts.deps import CurrentUser, DatabaseDep, NowDep, SettingsDep
from services.accounts.keys.exceptions import SigningKeysUnavailable
from services.accounts.keys.issuer import IssuerDep
from services.accounts.sessions.schemas import AccessToken, TokenPair
from services.accounts.staff import service as staff_service
from services.accounts.staff.exceptions import StaffAccountDisabled, StaffAccountLocked, StaffCredentialsInvalid
from services.accounts.staff.passwords import PasswordsDep
from services.accounts.staff.schemas import StaffSignIn
from services.accounts.wechat.exceptions import (
    WeChatCodeInvalid,
    WeChatCodeUsed,
    WeChatRateLimited,
    WeChatUnavailable,
    WeChatUserBlocked,
)
from services.accounts.wechat.provider import WeChatDep
from services.common.auth import InvalidToken
from services.common.db import SessionDep
from services.common.errors import problem_docs

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/wechat",
    response_model=TokenPair,
    summary="Sign in from the mini-program with a wx.login() code",
    responses=problem_docs(
        WeChatCodeInvalid, WeChatCodeUsed, WeChatRateLimited, WeChatUserBlocked, WeChatUnavailable,
        SigningKeysUnavailable,
    ),
)  # fmt: skip
async def sign_in_with_wechat(
    body: WeChatSignIn, session: SessionDep, wechat: WeChatDep, issuer: IssuerDep, now: NowDep, settings: SettingsDep
) -> TokenPair:
    """The first sign-in of a WeChat account creates its user. Roles: `customer`, and `leader` while leaders says
    the user is an active leader."""
    return await service.sign_in_with_wechat(
        session, wechat=wechat, code=body.code, issuer=issuer, now=now, settings=settings
    )


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Exchange a refresh token for a new pair",
    responses=problem_docs(
        RefreshTokenInvalid, RefreshTokenExpired, RefreshTokenReused, SessionEnded, SigningKeysUnavailable
    ),
)
async def refresh_tokens(
    body: RefreshRequest, db: DatabaseDep, issuer: IssuerDep, now: NowDep, settings: SettingsDep
) -> TokenPair:
    """Each refresh token works once. Using one twice (a copy, or two refreshes at once) revokes the whole session:
    the user signs in again. The new access token carries the roles the data gives now."""
    return await service.refresh(db, raw_token=body.refresh_token, issuer=issuer, now=now, settings=settings)


@router.post(
    "/logout",
    status_code=204,
    summary="Sign out: the session's refresh tokens stop working",
    responses=problem_docs(InvalidToken),
)
async def logout(session: SessionDep, caller: CurrentUser, now: NowDep) -> None:
    await service.logout(session, subject_id=caller.sub, session_id=caller.session_id, now=now)


@router.post(
    "/staff",
    response_model=TokenPair,
    summary="Sign in as staff with a username and password",
    responses=problem_docs(StaffCredentialsInvalid, StaffAccountLocked, StaffAccountDisabled, SigningKeysUnavailable),
)
async def sign_in_as_staff(
    body: StaffSignIn,
    db: DatabaseDep,
    passwords: PasswordsDep,
    issuer: IssuerDep,
    now: NowDep,
    settings: SettingsDep,
) -> TokenPair:
    """After `ACCOUNTS_STAFF_MAX_FAILED_LOGINS` wrong passwords in a row the account is locked for
    `ACCOUNTS_STAFF_LOCK_SECONDS` (429 with Retry-After), even for the right password."""
    return await staff_service.sign_in(
        db,
        passwords=passwords,
        issuer=issuer,
        username=body.username,
        password=body.password,
        now=now,
        settings=settings,
    )


def dev_router() -> APIRouter:
    """Registered only with `ACCOUNTS_DEV_AUTH=true`: a production service answers 404 and does not document it."""
    dev = APIRouter(prefix="/api/v1/auth", tags=["auth"])

    @dev.post(
        "/dev-token",
        response_model=AccessToken,
        summary="Issue a token for any user and roles (development)",
        responses=problem_docs(SigningKeysUnavailable),
    )
    async def issue_dev_token(
        body: DevTokenRequest, session: SessionDep, issuer: IssuerDep, now: NowDep, settings: SettingsDep
    ) -> AccessToken:
        """Any subject and person roles; never `service`. Signed with the accounts key like every token."""
        return await service.issue_dev_token(
            session, issuer=issuer, sub=body.sub, roles=list(body.roles), now=now, settings=settings
        )

    return dev
