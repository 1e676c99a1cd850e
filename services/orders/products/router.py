from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from services.common.app import NowDep
from services.common.auth import InvalidToken, MissingPermission, Principal, require_permission, signed_in
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.idempotency import IdempotencyKeyReused, OptionalIdempotencyKey, run_idempotent
from services.common.pagination import InvalidCursor, ListQuery, Page
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.categories.exceptions import CategoryNotFound
from services.orders.products import service
from services.orders.products.exceptions import ProductArchived, ProductNotFound, SkuNameTaken, SkuNotFound
from services.orders.products.schemas import (
    PriceChangeRead,
    ProductCreate,
    ProductFilters,
    ProductRead,
    ProductUpdate,
    SkuCreate,
    SkuUpdate,
)

router = APIRouter(prefix="/api/v1/products", tags=["products"])


CatalogueStaff = Annotated[Principal, Depends(require_permission(Permission.CATALOGUE_MANAGE))]
#: Anyone signed in; catalogue staff also see what is off shelf and cost prices.
ProductReader = Annotated[Principal, Depends(signed_in(Permission.CATALOGUE_MANAGE))]

ProductId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Product id")]
SkuId = Annotated[int, Path(ge=1, le=INT64_MAX, description="SKU id")]


@router.post(
    "",
    status_code=201,
    response_model=ProductRead,
    summary="Create a product (staff: catalogue.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, IdempotencyKeyReused, CategoryNotFound),
)
async def create_product(
    body: ProductCreate, session: SessionDep, user: CatalogueStaff, idempotency: OptionalIdempotencyKey, now: NowDep
) -> Response:
    """Add a product, with its SKUs if it has several specifications. Send an `Idempotency-Key` to make retries
    safe."""
    return await run_idempotent(
        session,
        idempotency,
        body,
        lambda: service.create_product(session, data=body, by=user.sub, now=now),
        status_code=201,
    )


@router.get(
    "",
    response_model=Page[ProductRead],
    summary="List or search products, newest first",
    responses=problem_docs(InvalidToken, InvalidCursor, CategoryNotFound),
)
async def list_products(
    session: SessionDep, user: ProductReader, filters: Annotated[ProductFilters, Query()], now: NowDep
) -> Page[ProductRead]:
    """`total` is null: counting a search over the whole catalogue would cost more than the page itself."""
    return await service.list_products(session, filters=filters, page=filters.page_params(), user=user, now=now)


@router.get(
    "/{product_id}",
    response_model=ProductRead,
    summary="Read one product",
    responses=problem_docs(InvalidToken, ProductNotFound),
)
async def get_product(product_id: ProductId, session: SessionDep, user: ProductReader) -> ProductRead:
    """Customers and leaders see on-shelf products only (others are 404 to them)."""
    return await service.get_product(session, product_id=product_id, user=user)


@router.patch(
    "/{product_id}",
    response_model=ProductRead,
    summary="Change a product, put it on or off shelf, archive it (staff: catalogue.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, ProductNotFound, ProductArchived, CategoryNotFound),
)
async def update_product(
    product_id: ProductId, body: ProductUpdate, session: SessionDep, user: CatalogueStaff, now: NowDep
) -> ProductRead:
    """Fields left out stay as they are. A new price or cost price is added to the price history."""
    return await service.update_product(session, product_id=product_id, data=body, by=user.sub, now=now)


@router.post(
    "/{product_id}/skus",
    status_code=201,
    response_model=ProductRead,
    summary="Add a SKU to a product (catalogue staff)",
    responses=problem_docs(InvalidToken, MissingPermission, ProductNotFound, ProductArchived, SkuNameTaken),
)
async def add_sku(
    product_id: ProductId, body: SkuCreate, session: SessionDep, user: CatalogueStaff, now: NowDep
) -> ProductRead:
    return await service.add_sku(session, product_id=product_id, data=body, by=user.sub, now=now)


@router.patch(
    "/{product_id}/skus/{sku_id}",
    response_model=ProductRead,
    summary="Change a SKU (catalogue staff)",
    responses=problem_docs(
        InvalidToken, MissingPermission, ProductNotFound, ProductArchived, SkuNotFound, SkuNameTaken
    ),
)
async def update_sku(
    product_id: ProductId, sku_id: SkuId, body: SkuUpdate, session: SessionDep, user: CatalogueStaff, now: NowDep
) -> ProductRead:
    return await service.update_sku(session, product_id=product_id, sku_id=sku_id, data=body, by=user.sub, now=now)


@router.get(
    "/{product_id}/price-history",
    response_model=Page[PriceChangeRead],
    summary="Prices and cost prices of a product and its SKUs as they were set (catalogue staff)",
    responses=problem_docs(InvalidToken, MissingPermission, ProductNotFound, InvalidCursor),
)
async def price_history(
    product_id: ProductId, session: SessionDep, user: CatalogueStaff, filters: Annotated[ListQuery, Query()]
) -> Page[PriceChangeRead]:
    return await service.price_history(session, product_id=product_id, page=filters.page_params())
