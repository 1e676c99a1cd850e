from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from services.common.app import NowDep
from services.common.auth import (
    CurrentUser,
    InvalidToken,
    MissingPermission,
    Principal,
    require_permission,
)
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.idempotency import IdempotencyKeyReused, OptionalIdempotencyKey, run_idempotent
from services.common.pagination import InvalidCursor, Page, PageDep
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.products import service
from services.orders.products.exceptions import ProductNotFound
from services.orders.products.schemas import ProductCreate, ProductRead, ProductUpdate

router = APIRouter(prefix="/api/v1/products", tags=["products"])


CatalogueStaff = Annotated[Principal, Depends(require_permission(Permission.CATALOGUE_MANAGE))]

ProductId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Product id")]


@router.post(
    "",
    status_code=201,
    response_model=ProductRead,
    summary="Create a product (staff: catalogue.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, IdempotencyKeyReused),
)
async def create_product(
    body: ProductCreate, session: SessionDep, user: CatalogueStaff, idempotency: OptionalIdempotencyKey
) -> Response:
    """Add a product to the catalogue. Send an `Idempotency-Key` to make retries safe."""
    return await run_idempotent(
        session, idempotency, body, lambda: service.create_product(session, data=body), status_code=201
    )


@router.get(
    "",
    response_model=Page[ProductRead],
    summary="List products, newest first",
    responses=problem_docs(InvalidToken, InvalidCursor),
)
async def list_products(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    category: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
) -> Page[ProductRead]:
    return await service.list_products(session, page=page, category=category)


@router.get(
    "/{product_id}",
    response_model=ProductRead,
    summary="Read one product",
    responses=problem_docs(InvalidToken, ProductNotFound),
)
async def get_product(product_id: ProductId, session: SessionDep, user: CurrentUser) -> ProductRead:
    return await service.get_product(session, product_id=product_id)


@router.patch(
    "/{product_id}",
    response_model=ProductRead,
    summary="Change a product (staff: catalogue.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, ProductNotFound),
)
async def update_product(
    product_id: ProductId, body: ProductUpdate, session: SessionDep, user: CatalogueStaff, now: NowDep
) -> ProductRead:
    """Change name, price, stock, category or image; fields left out stay as they are."""
    return await service.update_product(session, product_id=product_id, data=body, now=now)
