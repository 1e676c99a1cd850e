"""What an order's lines cost and which stock they take: the catalogue's prices (products and their SKUs) or a
group-buy's, its window, regions and per-customer limits, and the order's pickup date."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.inventory import service as inventory_service
from services.orders.orders import repository
from services.orders.orders.exceptions import (
    GroupBuyLimitReached,
    GroupBuyNotInRegion,
    GroupBuyNotOpen,
    GroupBuyUnavailable,
    NotInGroupBuy,
    OutOfStock,
    ProductNotOnSale,
    ProductUnavailable,
    SkuRequired,
    SkuUnavailable,
)
from services.orders.orders.pickup import next_pickup_date
from services.orders.products.group_buy_models import GroupBuy, GroupBuyItem
from services.orders.products.models import Product, ProductSku, ProductStatus


@dataclass(frozen=True, slots=True)
class WantedLine:
    product_id: int
    sku_id: int | None
    quantity: int


@dataclass(frozen=True, slots=True)
class PricedLine:
    product_id: int
    sku_id: int | None
    product_name: str
    sku_name: str | None
    unit_price_fen: int
    cost_fen: int | None
    quantity: int


@dataclass(frozen=True, slots=True)
class PricedOrder:
    lines: list[PricedLine]
    pickup_date: date
    group_buy_id: int | None


def serves(regions: Sequence[str], region: str | None) -> bool:
    """A group-buy region serves a pickup point in it: the same district, or any district of the same city."""
    if region is None:
        return False
    return any(region == r or region.startswith(r + "/") for r in regions)


def _resolve_sku(product: Product, skus: Sequence[ProductSku], sku_id: int | None) -> ProductSku | None:
    """The SKU a line takes: the one it names, the product's only one, or none for a product without SKUs."""
    if sku_id is None:
        if len(skus) > 1:
            raise SkuRequired(f"Product {product.id} has {len(skus)} SKUs; name one with sku_id")
        return skus[0] if skus else None
    for sku in skus:
        if sku.id == sku_id:
            return sku
    raise SkuUnavailable(f"Product {product.id} has no SKU {sku_id}")


def _group_buy_item(items: Sequence[GroupBuyItem], product_id: int, sku_id: int | None) -> GroupBuyItem:
    exact = [i for i in items if i.product_id == product_id and i.sku_id == sku_id]
    whole = [i for i in items if i.product_id == product_id and i.sku_id is None]
    found = exact or whole
    if not found:
        raise NotInGroupBuy(f"Product {product_id} (SKU {sku_id}) is not in this group-buy")
    return found[0]


async def _open_group_buy(
    session: AsyncSession, group_buy_id: int, region: str | None, now: datetime
) -> tuple[GroupBuy, Sequence[GroupBuyItem]]:
    group_buy = await repository.get_group_buy(session, group_buy_id)
    if group_buy is None:
        raise GroupBuyUnavailable(f"Group-buy {group_buy_id} does not exist")
    if not serves(await repository.group_buy_regions(session, group_buy_id), region):
        raise GroupBuyNotInRegion(f"Group-buy {group_buy_id} does not serve this pickup point's region")
    if not (group_buy.starts_at <= now < group_buy.ends_at):
        raise GroupBuyNotOpen(
            f"Group-buy {group_buy_id} takes orders from {group_buy.starts_at.isoformat()}"
            f" until {group_buy.ends_at.isoformat()}"
        )
    return group_buy, await repository.group_buy_items(session, group_buy_id)


async def price_order(
    session: AsyncSession,
    *,
    customer_id: str,
    wanted: Sequence[WantedLine],
    group_buy_id: int | None,
    region: str | None,
    tz: ZoneInfo,
    cutoff: time,
    now: datetime,
) -> PricedOrder:
    """Check every line can be sold, count group-buy units against the customer's limits, take the stock; raises
    the reason a line cannot be sold. Stock is taken in ascending (product, SKU) order, like every order."""
    products = {p.id or 0: p for p in await repository.products_by_id(session, sorted({w.product_id for w in wanted}))}
    skus_of: dict[int, list[ProductSku]] = {}
    for row in await repository.skus_of_products(session, sorted(products)):
        skus_of.setdefault(row.product_id, []).append(row)
    resolved: list[tuple[WantedLine, Product, ProductSku | None]] = []
    for line in wanted:
        product = products.get(line.product_id)
        if product is None:
            raise ProductUnavailable(f"Product {line.product_id} does not exist")
        if product.status != ProductStatus.ON_SHELF:
            raise ProductNotOnSale(f"Product {line.product_id} is {product.status}")
        sku = _resolve_sku(product, skus_of.get(line.product_id, []), line.sku_id)
        if sku is not None and not sku.on_sale:
            raise ProductNotOnSale(f"SKU {sku.id} of product {line.product_id} is off sale")
        resolved.append((line, product, sku))

    group_buy: GroupBuy | None = None
    prices: dict[tuple[int, int | None], int] = {}
    if group_buy_id is not None:
        group_buy, items = await _open_group_buy(session, group_buy_id, region, now)
        limits: dict[int, int | None] = {}
        units: dict[int, int] = {}
        for line, _product, sku in resolved:
            item = _group_buy_item(items, line.product_id, sku.id if sku else None)
            prices[(line.product_id, sku.id if sku else None)] = item.price_fen
            limits[line.product_id] = item.per_customer_limit
            units[line.product_id] = units.get(line.product_id, 0) + line.quantity
        for product_id in sorted(units):
            limit = limits[product_id]
            if limit is None:
                continue
            if not await inventory_service.take_group_buy_quota(
                session,
                group_buy_id=group_buy_id,
                product_id=product_id,
                customer_id=customer_id,
                quantity=units[product_id],
                limit=limit,
                now=now,
            ):
                raise GroupBuyLimitReached(f"At most {limit} units of product {product_id} per customer")

    priced: list[PricedLine] = []
    for line, product, sku in sorted(resolved, key=lambda r: (r[0].product_id, r[2].id if r[2] else 0)):
        sku_id = sku.id if sku else None
        taken = await inventory_service.take_catalogue_units(
            session, product_id=line.product_id, sku_id=sku_id, quantity=line.quantity, now=now
        )
        if taken is None:
            raise OutOfStock(f"Not enough stock of product {line.product_id}" + (f" SKU {sku_id}" if sku_id else ""))
        name, price, cost = taken
        priced.append(
            PricedLine(
                product_id=line.product_id,
                sku_id=sku_id,
                product_name=product.name,
                sku_name=name if sku_id is not None else None,
                unit_price_fen=prices.get((line.product_id, sku_id), price),
                cost_fen=product.cost_fen if cost is None else cost,
                quantity=line.quantity,
            )
        )
    pickup = group_buy.pickup_date if group_buy is not None else next_pickup_date(now, tz, cutoff)
    return PricedOrder(lines=priced, pickup_date=pickup, group_buy_id=group_buy_id)
