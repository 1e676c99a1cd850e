from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.pagination import DatedListQuery
from services.common.text import Line

_Ref = Annotated[Line, StringConstraints(min_length=1, max_length=100)]


class AuditQuery(DatedListQuery):
    """Newest first; every filter narrows (`from` / `to` are local dates of the action, both inclusive)."""

    actor: _Ref | None = Field(default=None, description="The acting staff member's user id (or `cli:<os user>`)")
    target: _Ref | None = Field(
        default=None, description="`<type>` (e.g. `product`) or `<type>:<id>` (e.g. `product:42`)"
    )
    action: _Ref | None = Field(default=None, description="e.g. `product.updated`, `withdrawal.approved`")
    service: _Ref | None = Field(default=None, description="The service where the action happened")


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    service: str
    actor: str
    actor_username: str | None = Field(description="The staff member's username when the action was recorded")
    actor_roles: list[str] = Field(description="The duties the actor acted with")
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime = Field(description="When the action happened")
    recorded_at: datetime = Field(description="When the trail received it")
