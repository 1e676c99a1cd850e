from __future__ import annotations

from services.common.errors import Unauthorized


class RefreshTokenInvalid(Unauthorized):
    code = "REFRESH_TOKEN_INVALID"
    title = "This refresh token is not one we issued"


class RefreshTokenExpired(Unauthorized):
    code = "REFRESH_TOKEN_EXPIRED"
    title = "This refresh token has expired; sign in again"


class RefreshTokenReused(Unauthorized):
    code = "REFRESH_TOKEN_REUSED"
    title = "This refresh token was used before; every session token from that sign-in is revoked, sign in again"


class SessionEnded(Unauthorized):
    code = "SESSION_ENDED"
    title = "The account behind this session can no longer sign in"
