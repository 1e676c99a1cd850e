from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.text import Line, Text

#: Tag codes travel in paths and query strings: lower-case letters, digits, `-` and `_`.
TAG_CODE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
TagCode = Annotated[str, StringConstraints(pattern=TAG_CODE_PATTERN, min_length=1, max_length=32)]


class TagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: TagCode = Field(examples=["vip"])
    name: Annotated[Line, StringConstraints(min_length=1, max_length=50)]
    description: Annotated[Text, StringConstraints(max_length=200)] | None = None


class TagRead(BaseModel):
    code: str
    name: str
    description: str | None
    created_by: str
    created_at: datetime


class TagList(BaseModel):
    items: list[TagRead]


class CustomerTagRead(BaseModel):
    customer_id: str
    tag: str
    tagged_by: str
    tagged_at: datetime


class CustomerTags(BaseModel):
    customer_id: str
    tags: list[CustomerTagRead]
