"""All SQL about products."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.products.models import Product


async def insert_product(session: AsyncSession, product: Product) -> Product:
    session.add(product)
    await session.flush()
    return product


async def get_product(session: AsyncSession, product_id: int) -> Product | None:
    return await session.get(Product, product_id)


async def list_products(
    session: AsyncSession, *, limit: int, after_id: int | None, category: str | None
) -> Sequence[Product]:
    # Newest first; keyset on the primary key so deep pages cost the same as the first.
    query = select(Product).order_by(col(Product.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(Product.id) < after_id)
    if category is not None:
        query = query.where(Product.category == category)
    return (await session.exec(query)).all()


async def update_product(session: AsyncSession, product: Product, changes: dict[str, Any]) -> Product:
    for field, value in changes.items():
        setattr(product, field, value)
    session.add(product)
    await session.flush()
    return product
