from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from services.common.pagination import ListQuery
from services.common.text import CONTROL, Line, Text, WebUrl
from services.common.types import INT64_MAX, Fen, Id, Quantity
from services.orders.products.models import ProductStatus

ProductName = Annotated[Line, StringConstraints(min_length=1, max_length=100)]
Category = Annotated[Line, StringConstraints(min_length=1, max_length=50)]
Description = Annotated[Text, StringConstraints(min_length=1, max_length=2000)]
Unit = Annotated[Line, StringConstraints(min_length=1, max_length=10)]
Origin = Annotated[Line, StringConstraints(min_length=1, max_length=50)]
SkuName = Annotated[Line, StringConstraints(min_length=1, max_length=50)]
Region = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=60, pattern=rf"^[^/{CONTROL}]+(/[^/{CONTROL}]+)?$"
    ),
]
#: An id in a query string (which is text: the strict `Id` of bodies would refuse every value).
QueryId = Annotated[int, Field(ge=1, le=INT64_MAX)]
Images = Annotated[list[WebUrl], Field(max_length=20)]


class SkuCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SkuName = Field(description="The specification: 5斤装, 一箱12个…")
    price_fen: Fen
    stock: Quantity
    cost_fen: Fen | None = None
    on_sale: bool = True


class SkuUpdate(BaseModel):
    """Only the fields sent change; `cost_fen` can be cleared with null."""

    model_config = ConfigDict(extra="forbid")

    name: SkuName | None = None
    price_fen: Fen | None = None
    stock: Quantity | None = None
    cost_fen: Fen | None = None
    on_sale: bool | None = None

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> SkuUpdate:
        for field in ("name", "price_fen", "stock", "on_sale"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class SkuRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    price_fen: int
    stock: int
    on_sale: bool
    cost_fen: int | None = Field(default=None, description="Staff with `catalogue.manage` only; null for others")


class ProductCreate(BaseModel):
    """A product without `skus` has one price and stock; with SKUs each has its own (orders then name the SKU when
    there are several). Without `status` the product is on shelf."""

    model_config = ConfigDict(extra="forbid")

    name: ProductName
    price_fen: Fen
    stock: Quantity
    category: Category | None = None
    image_url: WebUrl | None = None
    category_id: Id | None = None
    images: Images = []
    description: Description | None = None
    unit: Unit | None = None
    origin: Origin | None = None
    status: ProductStatus = ProductStatus.ON_SHELF
    cost_fen: Fen | None = None
    skus: Annotated[list[SkuCreate], Field(max_length=50)] = []

    @field_validator("skus")
    @classmethod
    def _distinct_sku_names(cls, skus: list[SkuCreate]) -> list[SkuCreate]:
        if len({s.name for s in skus}) != len(skus):
            raise ValueError("SKU names must be distinct within a product")
        return skus


class ProductUpdate(BaseModel):
    """Only the fields sent change. `category`, `category_id`, `image_url`, `description`, `unit`, `origin` and
    `cost_fen` can be cleared with null; the rest cannot. Archiving (`status: archived`) is for good."""

    model_config = ConfigDict(extra="forbid")

    name: ProductName | None = None
    price_fen: Fen | None = None
    stock: Quantity | None = None
    category: Category | None = None
    image_url: WebUrl | None = None
    category_id: Id | None = None
    images: Images | None = None
    description: Description | None = None
    unit: Unit | None = None
    origin: Origin | None = None
    status: ProductStatus | None = None
    cost_fen: Fen | None = None

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> ProductUpdate:
        for field in ("name", "price_fen", "stock", "images", "status"):
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
    category_id: int | None = None
    images: list[str] = []
    description: str | None = None
    unit: str | None = None
    origin: str | None = None
    status: ProductStatus = ProductStatus.ON_SHELF
    cost_fen: int | None = Field(default=None, description="Staff with `catalogue.manage` only; null for others")
    skus: list[SkuRead] = []
    created_at: datetime
    updated_at: datetime


class PriceChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku_id: int | None
    price_fen: int
    cost_fen: int | None
    changed_by: str
    changed_at: datetime


class ProductFilters(ListQuery):
    """`q` searches names (substring, any case; 1–2 characters look up an index of the names' 1- and 2-character
    pieces, longer queries the trigram index). Customers see on-shelf products only; `status` is for staff."""

    q: Line | None = Field(default=None, min_length=1, max_length=50, description="Part of the name: 苹果, 红富士")
    category_id: QueryId | None = Field(default=None, description="This category and every category below it")
    category: Category | None = Field(default=None, description="The free-text category of older products")
    status: ProductStatus | None = Field(default=None, description="Staff only; customers always get on_shelf")
    region: Region | None = Field(
        default=None, description="Only products in a group-buy open now in this region (city or city/district)"
    )

    @field_validator("q")
    @classmethod
    def _q_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("q must not be blank")
        return value.strip() if value is not None else None
