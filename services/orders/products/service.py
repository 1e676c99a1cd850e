"""Product rules: ops keep the catalogue; everyone signed in reads it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.pagination import Page, PageParams
from services.orders.products import repository
from services.orders.products.exceptions import ProductNotFound
from services.orders.products.models import Product
from services.orders.products.schemas import ProductCreate, ProductRead, ProductUpdate


async def create_product(session: AsyncSession, *, data: ProductCreate) -> ProductRead:
    product = await repository.insert_product(session, Product(**data.model_dump()))
    return ProductRead.model_validate(product)


async def get_product(session: AsyncSession, *, product_id: int) -> ProductRead:
    product = await repository.get_product(session, product_id)
    if product is None:
        raise ProductNotFound(f"Product {product_id} does not exist")
    return ProductRead.model_validate(product)


async def list_products(session: AsyncSession, *, page: PageParams, category: str | None = None) -> Page[ProductRead]:
    rows = await repository.list_products(session, limit=page.limit + 1, after_id=page.after_int(), category=category)
    return page.page(rows, key=lambda p: [p.id], convert=ProductRead.model_validate)


async def update_product(session: AsyncSession, *, product_id: int, data: ProductUpdate, now: datetime) -> ProductRead:
    product = await repository.get_product(session, product_id)
    if product is None:
        raise ProductNotFound(f"Product {product_id} does not exist")
    changes = data.changes()
    if changes:
        changes["updated_at"] = now
        product = await repository.update_product(session, product, changes)
    return ProductRead.model_validate(product)
