"""Category rules: ops keep the tree; everyone signed in reads it. Products filtered by a category include those of
its descendants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.categories import repository
from services.orders.categories.exceptions import CategoryCycle, CategoryNotFound
from services.orders.categories.models import Category
from services.orders.categories.schemas import CategoryCreate, CategoryNode, CategoryRead, CategoryUpdate


async def require_category(session: AsyncSession, category_id: int) -> Category:
    category = await repository.get_category(session, category_id)
    if category is None:
        raise CategoryNotFound(f"Category {category_id} does not exist")
    return category


async def create_category(session: AsyncSession, *, data: CategoryCreate, now: datetime) -> CategoryRead:
    if data.parent_id is not None:
        await require_category(session, data.parent_id)
    category = Category(**data.model_dump(), created_at=now, updated_at=now)
    return CategoryRead.model_validate(await repository.insert_category(session, category))


async def update_category(
    session: AsyncSession, *, category_id: int, data: CategoryUpdate, now: datetime
) -> CategoryRead:
    category = await require_category(session, category_id)
    changes = data.model_dump(include=data.model_fields_set)
    parent_id = changes.get("parent_id")
    if parent_id is not None:
        await require_category(session, parent_id)
        if parent_id in _subtree(await repository.all_categories(session), category_id):
            raise CategoryCycle(f"Category {parent_id} is {category_id} itself or below it")
    for field, value in changes.items():
        setattr(category, field, value)
    category.updated_at = now
    return CategoryRead.model_validate(await repository.save(session, category))


def _subtree(rows: Sequence[Category], root_id: int) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for row in rows:
        assert row.id is not None
        children.setdefault(row.parent_id, []).append(row.id)
    found = {root_id}
    stack = [root_id]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


async def category_and_descendants(session: AsyncSession, category_id: int) -> set[int]:
    """The ids a product filter by `category_id` matches; CATEGORY_NOT_FOUND for an unknown one."""
    await require_category(session, category_id)
    return _subtree(await repository.all_categories(session), category_id)


async def category_tree(session: AsyncSession) -> list[CategoryNode]:
    rows = await repository.all_categories(session)
    nodes = {
        row.id: CategoryNode(id=row.id or 0, name=row.name, sort_order=row.sort_order, children=[]) for row in rows
    }
    roots: list[CategoryNode] = []
    for row in rows:
        node = nodes[row.id]
        parent = nodes.get(row.parent_id) if row.parent_id is not None else None
        (parent.children if parent is not None else roots).append(node)
    return roots
