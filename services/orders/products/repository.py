"""All SQL about products, their SKUs, price history and name search.

Search: names of 3 characters or more are found through a trigram index (PostgreSQL `pg_trgm` GIN on `name`,
SQLite the FTS5 `trigram` table `products_fts`, both created by the migration); 1 or 2 characters cannot make a
trigram, so those look up `product_name_grams`, every 1- and 2-character piece of each name. Neither scans the table.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, insert, literal_column, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import dialect_name
from services.orders.products.group_buy_models import GroupBuy, GroupBuyItem, GroupBuyRegion
from services.orders.products.models import PriceChange, Product, ProductNameGram, ProductSku, ProductStatus

#: Shorter queries are looked up in `product_name_grams`; from this length on the trigram index serves them.
TRIGRAM_MIN_LENGTH = 3


def name_grams(name: str) -> set[str]:
    """The 1- and 2-character pieces of a name (lower-cased, without spaces) that short searches look up."""
    text_ = name.lower()
    grams = {c for c in text_ if not c.isspace()}
    grams |= {text_[i : i + 2] for i in range(len(text_) - 1) if not any(c.isspace() for c in text_[i : i + 2])}
    return grams


async def write_name_grams(session: AsyncSession, *, product_id: int, name: str) -> None:
    await session.exec(delete(ProductNameGram).where(col(ProductNameGram.product_id) == product_id))
    grams = sorted(name_grams(name))
    if grams:
        await session.exec(insert(ProductNameGram).values([{"gram": g, "product_id": product_id} for g in grams]))


async def insert_product(session: AsyncSession, product: Product) -> Product:
    session.add(product)
    await session.flush()
    assert product.id is not None
    await write_name_grams(session, product_id=product.id, name=product.name)
    return product


async def insert_skus(session: AsyncSession, skus: Sequence[ProductSku]) -> None:
    session.add_all(skus)
    await session.flush()


async def get_product(session: AsyncSession, product_id: int) -> Product | None:
    return await session.get(Product, product_id)


async def get_sku(session: AsyncSession, sku_id: int) -> ProductSku | None:
    return await session.get(ProductSku, sku_id)


async def skus_of(session: AsyncSession, product_ids: Collection[int]) -> Sequence[ProductSku]:
    if not product_ids:
        return []
    query = (
        select(ProductSku)
        .where(col(ProductSku.product_id).in_(product_ids))
        .order_by(col(ProductSku.product_id), col(ProductSku.id))
    )
    return (await session.exec(query)).all()


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _name_matches(session: AsyncSession, q: str) -> ColumnElement[bool]:
    needle = q.lower()
    if len(needle) < TRIGRAM_MIN_LENGTH:
        grams = select(ProductNameGram.product_id).where(ProductNameGram.gram == needle)
        return col(Product.id).in_(grams)
    if dialect_name(session) == "postgresql":
        # ILIKE with a pattern of 3+ characters is served by the gin_trgm_ops index on products.name.
        return col(Product.name).ilike(_like_pattern(q), escape="\\")
    phrase = '"' + q.replace('"', '""') + '"'
    fts = text("SELECT rowid FROM products_fts WHERE products_fts MATCH :phrase").bindparams(phrase=phrase)
    return col(Product.id).in_(fts.columns(literal_column("rowid")))


def _open_in_regions(regions: Collection[str], now: datetime) -> ColumnElement[bool]:
    """The product is in a group-buy open at `now` that serves one of `regions`."""
    return exists(
        select(GroupBuyItem.id)
        .join(GroupBuy, col(GroupBuy.id) == col(GroupBuyItem.group_buy_id))
        .join(GroupBuyRegion, col(GroupBuyRegion.group_buy_id) == col(GroupBuy.id))
        .where(
            col(GroupBuyItem.product_id) == col(Product.id),
            col(GroupBuy.starts_at) <= now,
            col(GroupBuy.ends_at) > now,
            col(GroupBuyRegion.region).in_(regions),
        )
    )


async def list_products(
    session: AsyncSession,
    *,
    limit: int,
    after_id: int | None,
    category: str | None = None,
    category_ids: Collection[int] | None = None,
    statuses: Collection[ProductStatus] | None = None,
    q: str | None = None,
    regions: Collection[str] | None = None,
    now: datetime | None = None,
) -> Sequence[Product]:
    # Newest first; keyset on the primary key so deep pages cost the same as the first.
    query = select(Product).order_by(col(Product.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(Product.id) < after_id)
    if category is not None:
        query = query.where(Product.category == category)
    if category_ids is not None:
        query = query.where(col(Product.category_id).in_(category_ids))
    if statuses is not None:
        query = query.where(col(Product.status).in_(statuses))
    if q is not None:
        query = query.where(_name_matches(session, q))
    if regions is not None:
        assert now is not None
        query = query.where(_open_in_regions(regions, now))
    return (await session.exec(query)).all()


async def update_product(session: AsyncSession, product: Product, changes: dict[str, Any]) -> Product:
    for field, value in changes.items():
        setattr(product, field, value)
    session.add(product)
    await session.flush()
    if "name" in changes:
        assert product.id is not None
        await write_name_grams(session, product_id=product.id, name=product.name)
    return product


async def save_sku(session: AsyncSession, sku: ProductSku) -> ProductSku:
    session.add(sku)
    await session.flush()
    return sku


async def record_price(
    session: AsyncSession,
    *,
    product_id: int,
    sku_id: int | None,
    price_fen: int,
    cost_fen: int | None,
    by: str,
    now: datetime,
) -> None:
    session.add(
        PriceChange(
            product_id=product_id, sku_id=sku_id, price_fen=price_fen, cost_fen=cost_fen, changed_by=by, changed_at=now
        )
    )
    await session.flush()


async def price_history(
    session: AsyncSession, *, product_id: int, limit: int, after_id: int | None
) -> Sequence[PriceChange]:
    query = (
        select(PriceChange)
        .where(col(PriceChange.product_id) == product_id)
        .order_by(col(PriceChange.id).desc())
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(col(PriceChange.id) < after_id)
    return (await session.exec(query)).all()


async def count_price_changes(session: AsyncSession, product_id: int) -> int:
    query = select(func.count()).select_from(PriceChange).where(col(PriceChange.product_id) == product_id)
    return int((await session.exec(query)).one())


def regions_serving(region: str) -> list[str]:
    """The group-buy regions that serve a place in `region`: the district itself and its whole city."""
    city = region.split("/", 1)[0]
    return sorted({region, city})
