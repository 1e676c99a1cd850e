from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.accounts.roles import PersonRole
from services.common.auth import SERVICE_SUBJECT_PREFIX
from services.common.text import AsciiToken


class WeChatSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: AsciiToken = Field(min_length=1, max_length=128, description="The one-time code from wx.login()")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: AsciiToken = Field(min_length=1, max_length=128)


Subject = Annotated[
    str,
    # Visible ASCII only: the subject ends up in logs, URLs and other services' tables.
    Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$", examples=["u1"]),
]


class DevTokenRequest(BaseModel):
    """Person roles only: `service` is not one of them, and a `svc:` subject is refused, so the development login
    can never mint a service identity."""

    model_config = ConfigDict(extra="forbid")

    sub: Subject
    roles: list[PersonRole] = Field(min_length=1, max_length=8, examples=[["customer"]])

    @field_validator("sub")
    @classmethod
    def _not_a_service(cls, value: str) -> str:
        if value.startswith(SERVICE_SUBJECT_PREFIX):
            raise ValueError(f"subjects starting with {SERVICE_SUBJECT_PREFIX!r} are service identities")
        return value
