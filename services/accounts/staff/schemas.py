from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from services.accounts.roles import StaffRole
from services.common.pagination import ListQuery
from services.common.text import Line, Secret


def _normalise_username(value: object) -> object:
    # Lower-cased before the pattern is checked (StringConstraints checks the pattern on the raw text).
    return value.strip().lower() if isinstance(value, str) else value


Username = Annotated[
    str,
    BeforeValidator(_normalise_username),
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,31}$"),
    Field(examples=["zhang.wei"], description="3-32 characters: letters, digits, `.`, `_`, `-` (case-insensitive)"),
]
NewPassword = Annotated[Secret, Field(min_length=10, max_length=128, description="At least 10 characters")]
DisplayName = Annotated[Line, StringConstraints(min_length=1, max_length=50)]
ContactPhone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{4,18}[0-9]$")]
Roles = Annotated[list[StaffRole], Field(min_length=1, max_length=6)]


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    display_name: DisplayName
    contact_phone: ContactPhone | None = None
    roles: Roles
    password: NewPassword = Field(description="The initial password; tell it to the person out of band")


class StaffUpdate(BaseModel):
    """Fields left out stay; `password` sets a new one (and unlocks the account); deactivating or a new password
    ends the account's sessions."""

    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    contact_phone: ContactPhone | None = None
    roles: Roles | None = None
    active: bool | None = None
    password: NewPassword | None = None

    @model_validator(mode="after")
    def _only_contact_may_be_cleared(self) -> StaffUpdate:
        for name in ("display_name", "roles", "active", "password"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class StaffRead(BaseModel):
    id: str
    username: str
    display_name: str
    contact_phone: str | None
    roles: list[str]
    active: bool
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime


class StaffSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Not the creation rules: a sign-in with a malformed name is a wrong login (401), not a 422 that tells names
    # apart from valid ones.
    username: Secret = Field(min_length=1, max_length=64)
    password: Secret = Field(min_length=1, max_length=256)


class StaffFilters(ListQuery):
    role: StaffRole | None = Field(default=None, description="Only accounts with this role")
    active: bool | None = None
