from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from services.common.text import AsciiToken, Line


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("must be an https:// URL")
    return value


HttpsUrl = Annotated[Line, StringConstraints(max_length=500), AfterValidator(_https_url)]
Nickname = Annotated[Line, StringConstraints(min_length=1, max_length=32)]
Region = Annotated[Line, StringConstraints(min_length=1, max_length=64)]


class UserRead(BaseModel):
    id: str
    nickname: str | None
    avatar_url: str | None
    region: str | None
    birthday: dt.date | None
    phone: str | None = Field(
        description="Masked (`138****0000`) for everyone except the user and staff with `users.read`"
    )
    phone_country_code: str | None
    created_at: dt.datetime


class UserUpdate(BaseModel):
    """Fields left out stay as they are; null clears one."""

    model_config = ConfigDict(extra="forbid")

    nickname: Nickname | None = None
    avatar_url: HttpsUrl | None = None
    region: Region | None = Field(default=None, examples=["上海市 浦东新区"])
    # A plain date: the service's own rule (BIRTHDAY_NOT_IN_PAST) bounds it on both sides, and a date is never
    # moved between time zones.
    birthday: dt.date | None = Field(default=None, description="A date in the past")


class PhoneCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: AsciiToken = Field(
        min_length=1, max_length=128, description="The code from the mini-program's getPhoneNumber"
    )
