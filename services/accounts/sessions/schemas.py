from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TokenUser(BaseModel):
    id: str = Field(description="The subject of the tokens (`sub`): a user id `u_...` or a staff id `s_...`")
    roles: list[str]


class TokenPair(BaseModel):
    access_token: str = Field(description="A short-lived JWT (EdDSA) to send as `Authorization: Bearer ...`")
    refresh_token: str = Field(description="Opaque; exchange it once at /api/v1/auth/refresh for a new pair")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires")
    user: TokenUser


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires")
