from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.common.text import Line
from services.common.types import Id

CategoryName = Annotated[Line, StringConstraints(min_length=1, max_length=50)]
SortOrder = Annotated[int, Field(strict=True, ge=-1_000_000, le=1_000_000)]


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CategoryName
    parent_id: Id | None = None
    sort_order: SortOrder = 0


class CategoryUpdate(BaseModel):
    """Only the fields sent change; `parent_id: null` makes the category a root."""

    model_config = ConfigDict(extra="forbid")

    name: CategoryName | None = None
    parent_id: Id | None = None
    sort_order: SortOrder | None = None

    @model_validator(mode="after")
    def _name_not_null(self) -> CategoryUpdate:
        for field in ("name", "sort_order"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class CategoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    parent_id: int | None
    sort_order: int
    created_at: datetime
    updated_at: datetime


class CategoryNode(BaseModel):
    id: int
    name: str
    sort_order: int
    children: list[CategoryNode]
