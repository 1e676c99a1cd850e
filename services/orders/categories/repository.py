"""All SQL about categories. The tree is small (hundreds of rows): it is read whole and walked in memory."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.categories.models import Category


async def insert_category(session: AsyncSession, category: Category) -> Category:
    session.add(category)
    await session.flush()
    return category


async def get_category(session: AsyncSession, category_id: int) -> Category | None:
    return await session.get(Category, category_id)


async def all_categories(session: AsyncSession) -> Sequence[Category]:
    query = select(Category).order_by(col(Category.sort_order), col(Category.id))
    return (await session.exec(query)).all()


async def save(session: AsyncSession, category: Category) -> Category:
    session.add(category)
    await session.flush()
    return category
