from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.common.app import NowDep
from services.common.auth import CurrentUser, InvalidToken, MissingPermission, Principal, require_permission
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.pagination import NoParams
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.categories import service
from services.orders.categories.exceptions import CategoryCycle, CategoryNotFound
from services.orders.categories.schemas import CategoryCreate, CategoryNode, CategoryRead, CategoryUpdate

router = APIRouter(prefix="/api/v1/categories", tags=["categories"])

CategoryId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Category id")]
CatalogueStaff = Annotated[Principal, Depends(require_permission(Permission.CATALOGUE_MANAGE))]


@router.post(
    "",
    status_code=201,
    response_model=CategoryRead,
    summary="Create a category, under a parent or as a root (catalogue staff)",
    responses=problem_docs(InvalidToken, MissingPermission, CategoryNotFound),
)
async def create_category(body: CategoryCreate, session: SessionDep, user: CatalogueStaff, now: NowDep) -> CategoryRead:
    return await service.create_category(session, data=body, now=now)


@router.get(
    "",
    response_model=list[CategoryNode],
    summary="The category tree",
    responses=problem_docs(InvalidToken),
)
async def category_tree(session: SessionDep, user: CurrentUser, _: NoParams) -> list[CategoryNode]:
    """Roots in `sort_order`, each with its children: the whole tree in one answer (it is small)."""
    return await service.category_tree(session)


@router.patch(
    "/{category_id}",
    response_model=CategoryRead,
    summary="Rename, reorder or move a category (catalogue staff)",
    responses=problem_docs(InvalidToken, MissingPermission, CategoryNotFound, CategoryCycle),
)
async def update_category(
    category_id: CategoryId, body: CategoryUpdate, session: SessionDep, user: CatalogueStaff, now: NowDep
) -> CategoryRead:
    return await service.update_category(session, category_id=category_id, data=body, now=now)
