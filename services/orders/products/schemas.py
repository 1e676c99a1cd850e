from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from services.common.types import Fen, Quantity

ProductName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
ImageUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https?://\S+$")]


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ProductName
    price_fen: Fen
    stock: Quantity
    category: Category | None = None
    image_url: ImageUrl | None = None


class ProductUpdate(BaseModel):
    """Only the fields sent change. `category` and `image_url` can be cleared with null; the rest cannot."""

    model_config = ConfigDict(extra="forbid")

    name: ProductName | None = None
    price_fen: Fen | None = None
    stock: Quantity | None = None
    category: Category | None = None
    image_url: ImageUrl | None = None

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> ProductUpdate:
        for field in ("name", "price_fen", "stock"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(include=self.model_fields_set)


class ProductRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    price_fen: int
    stock: int
    category: str | None
    image_url: str | None
    created_at: datetime
    updated_at: datetime
