"""Product rules: staff with `catalogue.manage` keep the catalogue; everyone signed in reads what is on shelf.

Staff see every product and its cost price; customers and leaders see on-shelf products without it. Every price
and cost price set is kept in the price history. An archived product is never deleted (old orders name it) and
never changes again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.common.auth import Principal
from services.common.pagination import Page, PageParams
from services.common.permissions import Permission
from services.orders.categories.service import category_and_descendants, require_category
from services.orders.db import outbox
from services.orders.products import repository
from services.orders.products.exceptions import ProductArchived, ProductNotFound, SkuNameTaken, SkuNotFound
from services.orders.products.models import Product, ProductSku, ProductStatus
from services.orders.products.schemas import (
    PriceChangeRead,
    ProductCreate,
    ProductFilters,
    ProductRead,
    ProductUpdate,
    SkuCreate,
    SkuRead,
    SkuUpdate,
)


def is_catalogue_staff(user: Principal) -> bool:
    """Sees every product whatever its status, and cost prices."""
    return user.can(Permission.CATALOGUE_MANAGE)


def to_read(product: Product, skus: Sequence[ProductSku], *, staff: bool) -> ProductRead:
    read = ProductRead.model_validate(product)
    read.skus = [SkuRead.model_validate(s) for s in skus]
    if not staff:
        read.cost_fen = None
        read.skus = [s.model_copy(update={"cost_fen": None}) for s in read.skus if s.on_sale]
    return read


async def _read_one(session: AsyncSession, product: Product, *, staff: bool) -> ProductRead:
    assert product.id is not None
    return to_read(product, await repository.skus_of(session, [product.id]), staff=staff)


#: What the audit trail keeps of a product and of a SKU: price, cost, stock and whether it is sold.
_AUDITED_PRODUCT = ("name", "price_fen", "cost_fen", "stock", "status", "category_id")
_AUDITED_SKU = ("product_id", "name", "price_fen", "cost_fen", "stock", "on_sale")


def _audited(row: Product | ProductSku, fields: Sequence[str]) -> dict[str, object]:
    return {field: getattr(row, field) for field in fields}


async def create_product(session: AsyncSession, *, data: ProductCreate, by: str, now: datetime) -> ProductRead:
    if data.category_id is not None:
        await require_category(session, data.category_id)
    values = data.model_dump(exclude={"skus"})
    if values["image_url"] is None and data.images:
        values["image_url"] = data.images[0]  # older clients show one image
    product = await repository.insert_product(session, Product(**values, created_at=now, updated_at=now))
    assert product.id is not None
    skus = [ProductSku(product_id=product.id, **s.model_dump(), created_at=now, updated_at=now) for s in data.skus]
    await repository.insert_skus(session, skus)
    await repository.record_price(
        session, product_id=product.id, sku_id=None, price_fen=product.price_fen, cost_fen=product.cost_fen, by=by,
        now=now,
    )  # fmt: skip
    for sku in skus:
        await repository.record_price(
            session, product_id=product.id, sku_id=sku.id, price_fen=sku.price_fen, cost_fen=sku.cost_fen, by=by,
            now=now,
        )  # fmt: skip
    await audit.record(
        session, outbox, actor=by, action="product.created", target=("product", product.id), before=None,
        after={**_audited(product, _AUDITED_PRODUCT), "skus": [_audited(sku, _AUDITED_SKU) for sku in skus]}, at=now,
    )  # fmt: skip
    return to_read(product, skus, staff=True)


async def _visible_product(session: AsyncSession, product_id: int, user: Principal) -> Product:
    product = await repository.get_product(session, product_id)
    if product is None or not (is_catalogue_staff(user) or product.status == ProductStatus.ON_SHELF):
        raise ProductNotFound(f"Product {product_id} does not exist")
    return product


async def get_product(session: AsyncSession, *, product_id: int, user: Principal) -> ProductRead:
    product = await _visible_product(session, product_id, user)
    return await _read_one(session, product, staff=is_catalogue_staff(user))


async def list_products(
    session: AsyncSession, *, filters: ProductFilters, page: PageParams, user: Principal, now: datetime
) -> Page[ProductRead]:
    staff = is_catalogue_staff(user)
    statuses = (None if filters.status is None else [filters.status]) if staff else [ProductStatus.ON_SHELF]
    category_ids = None
    if filters.category_id is not None:
        category_ids = await category_and_descendants(session, filters.category_id)
    rows = await repository.list_products(
        session,
        limit=page.limit + 1,
        after_id=page.after_int(),
        category=filters.category,
        category_ids=category_ids,
        statuses=statuses,
        q=filters.q,
        regions=None if filters.region is None else repository.regions_serving(filters.region),
        now=now,
    )
    shown = rows[: page.limit]
    by_product: dict[int, list[ProductSku]] = {}
    for sku in await repository.skus_of(session, [p.id for p in shown if p.id is not None]):
        by_product.setdefault(sku.product_id, []).append(sku)
    return page.page(
        rows, key=lambda p: [p.id], convert=lambda p: to_read(p, by_product.get(p.id or 0, []), staff=staff)
    )


async def _changeable(session: AsyncSession, product_id: int) -> Product:
    product = await repository.get_product(session, product_id)
    if product is None:
        raise ProductNotFound(f"Product {product_id} does not exist")
    if product.status == ProductStatus.ARCHIVED:
        raise ProductArchived(f"Product {product_id} is archived")
    return product


async def update_product(
    session: AsyncSession, *, product_id: int, data: ProductUpdate, by: str, now: datetime
) -> ProductRead:
    product = await _changeable(session, product_id)
    was = _audited(product, _AUDITED_PRODUCT)
    changes = data.changes()
    if changes.get("category_id") is not None:
        await require_category(session, changes["category_id"])
    priced = any(field in changes and changes[field] != getattr(product, field) for field in ("price_fen", "cost_fen"))
    if changes:
        changes["updated_at"] = now
        product = await repository.update_product(session, product, changes)
    if priced:
        assert product.id is not None
        await repository.record_price(
            session, product_id=product.id, sku_id=None, price_fen=product.price_fen, cost_fen=product.cost_fen,
            by=by, now=now,
        )  # fmt: skip
    before, after = audit.changed(was, _audited(product, _AUDITED_PRODUCT))
    if after:
        await audit.record(
            session, outbox, actor=by, action="product.updated", target=("product", product_id), before=before,
            after=after, at=now,
        )  # fmt: skip
    return await _read_one(session, product, staff=True)


async def add_sku(session: AsyncSession, *, product_id: int, data: SkuCreate, by: str, now: datetime) -> ProductRead:
    product = await _changeable(session, product_id)
    if any(s.name == data.name for s in await repository.skus_of(session, [product_id])):
        raise SkuNameTaken(f"Product {product_id} already has a SKU named {data.name!r}")
    sku = ProductSku(product_id=product_id, **data.model_dump(), created_at=now, updated_at=now)
    await repository.insert_skus(session, [sku])
    await repository.record_price(
        session, product_id=product_id, sku_id=sku.id, price_fen=sku.price_fen, cost_fen=sku.cost_fen, by=by, now=now
    )
    assert sku.id is not None
    await audit.record(
        session, outbox, actor=by, action="sku.created", target=("sku", sku.id), before=None,
        after=_audited(sku, _AUDITED_SKU), at=now,
    )  # fmt: skip
    return await _read_one(session, product, staff=True)


async def update_sku(
    session: AsyncSession, *, product_id: int, sku_id: int, data: SkuUpdate, by: str, now: datetime
) -> ProductRead:
    product = await _changeable(session, product_id)
    sku = await repository.get_sku(session, sku_id)
    if sku is None or sku.product_id != product_id:
        raise SkuNotFound(f"Product {product_id} has no SKU {sku_id}")
    changes = data.model_dump(include=data.model_fields_set)
    renamed = "name" in changes and changes["name"] != sku.name
    if renamed and any(s.name == changes["name"] for s in await repository.skus_of(session, [product_id])):
        raise SkuNameTaken(f"Product {product_id} already has a SKU named {changes['name']!r}")
    priced = any(field in changes and changes[field] != getattr(sku, field) for field in ("price_fen", "cost_fen"))
    was = _audited(sku, _AUDITED_SKU)
    for field, value in changes.items():
        setattr(sku, field, value)
    sku.updated_at = now
    await repository.save_sku(session, sku)
    if priced:
        await repository.record_price(
            session, product_id=product_id, sku_id=sku_id, price_fen=sku.price_fen, cost_fen=sku.cost_fen, by=by,
            now=now,
        )  # fmt: skip
    before, after = audit.changed(was, _audited(sku, _AUDITED_SKU))
    if after:
        await audit.record(
            session, outbox, actor=by, action="sku.updated", target=("sku", sku_id), before=before, after=after,
            at=now,
        )  # fmt: skip
    return await _read_one(session, product, staff=True)


async def price_history(session: AsyncSession, *, product_id: int, page: PageParams) -> Page[PriceChangeRead]:
    if await repository.get_product(session, product_id) is None:
        raise ProductNotFound(f"Product {product_id} does not exist")
    rows = await repository.price_history(
        session, product_id=product_id, limit=page.limit + 1, after_id=page.after_int()
    )
    total = await repository.count_price_changes(session, product_id)
    return page.page(rows, key=lambda r: [r.id], convert=PriceChangeRead.model_validate, total=total)
