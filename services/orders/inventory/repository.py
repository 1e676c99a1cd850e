"""All SQL that takes or returns units: a product's stock, a flash sale's remaining units and what each buyer of a
sale holds. Every take is a guarded update (`... WHERE stock >= :q`) and reports whether it happened.

Rows are locked in one order, sale before product and products by ascending id, so two transactions never wait
on each other's rows in a cycle. The statements of a flash-sale batch take many buyers at once (`services.common.bulk`,
each statement built once); the others run in the caller's session.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Executable, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.bulk import Bulk
from services.orders.inventory.models import FlashSale, FlashSalePurchase
from services.orders.products.group_buy_models import GroupBuyQuota
from services.orders.products.models import Product, ProductSku, ProductStatus

# -- products ------------------------------------------------------------------------------------------------------


async def take_product_units(
    session: AsyncSession, *, product_id: int, quantity: int, now: datetime
) -> tuple[str, int] | None:
    """Take `quantity` units if that many are in stock; returns the (name, price) read in the same statement."""
    statement = (
        update(Product)
        .where(col(Product.id) == product_id, col(Product.stock) >= quantity)
        .values(stock=col(Product.stock) - quantity, updated_at=now)
        .returning(col(Product.name), col(Product.price_fen))
        .execution_options(synchronize_session=False)
    )
    row = (await session.exec(statement)).first()
    return None if row is None else (str(row[0]), int(row[1]))


async def return_product_units(session: AsyncSession, *, product_id: int, quantity: int, now: datetime) -> None:
    await session.exec(
        update(Product)
        .where(col(Product.id) == product_id)
        .values(stock=col(Product.stock) + quantity, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def take_on_shelf_units(
    session: AsyncSession, *, product_id: int, quantity: int, now: datetime
) -> tuple[str, int, int | None] | None:
    """Take units of an on-shelf product without SKUs: (name, price, cost price), or None when it is not on shelf
    or has too few."""
    statement = (
        update(Product)
        .where(
            col(Product.id) == product_id,
            col(Product.stock) >= quantity,
            col(Product.status) == ProductStatus.ON_SHELF,
        )
        .values(stock=col(Product.stock) - quantity, updated_at=now)
        .returning(col(Product.name), col(Product.price_fen), col(Product.cost_fen))
        .execution_options(synchronize_session=False)
    )
    row = (await session.exec(statement)).first()
    return None if row is None else (str(row[0]), int(row[1]), None if row[2] is None else int(row[2]))


async def take_sku_units(
    session: AsyncSession, *, product_id: int, sku_id: int, quantity: int, now: datetime
) -> tuple[str, int, int | None] | None:
    """Take units of a SKU on sale: (SKU name, price, cost price), or None when it has too few or is not on sale.
    (The product's shelf status is checked by the caller, which reads the product first.)"""
    statement = (
        update(ProductSku)
        .where(
            col(ProductSku.id) == sku_id,
            col(ProductSku.product_id) == product_id,
            col(ProductSku.stock) >= quantity,
            col(ProductSku.on_sale).is_(True),
        )
        .values(stock=col(ProductSku.stock) - quantity, updated_at=now)
        .returning(col(ProductSku.name), col(ProductSku.price_fen), col(ProductSku.cost_fen))
        .execution_options(synchronize_session=False)
    )
    row = (await session.exec(statement)).first()
    return None if row is None else (str(row[0]), int(row[1]), None if row[2] is None else int(row[2]))


async def return_sku_units(session: AsyncSession, *, sku_id: int, quantity: int, now: datetime) -> None:
    await session.exec(
        update(ProductSku)
        .where(col(ProductSku.id) == sku_id)
        .values(stock=col(ProductSku.stock) + quantity, updated_at=now)
        .execution_options(synchronize_session=False)
    )


# -- a group-buy customer's units against the per-customer limit --------------------------------------------------


@functools.cache
def _take_group_buy_quota(dialect_name: str) -> Executable:
    table: Table = GroupBuyQuota.__table__  # type: ignore[attr-defined]
    statement = (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table).values(
        group_buy_id=bindparam("p_group_buy"),
        product_id=bindparam("p_product"),
        customer_id=bindparam("p_customer"),
        quantity=bindparam("p_units"),
        updated_at=bindparam("p_now"),
    )
    held = table.c.quantity + statement.excluded.quantity
    return statement.on_conflict_do_update(
        index_elements=[table.c.group_buy_id, table.c.product_id, table.c.customer_id],
        set_={"quantity": held, "updated_at": statement.excluded.updated_at},
        where=held <= bindparam("p_limit"),
    ).returning(table.c.id)


async def take_group_buy_quota(
    session: AsyncSession,
    *,
    group_buy_id: int,
    product_id: int,
    customer_id: str,
    quantity: int,
    limit: int,
    now: datetime,
) -> bool:
    """Count units against the customer's limit; False when they would exceed it. Unique per (group-buy, product,
    customer): two first orders racing cannot both insert (the second waits, then updates under the guard)."""
    if quantity > limit:
        return False
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    params = {
        "p_group_buy": group_buy_id,
        "p_product": product_id,
        "p_customer": customer_id,
        "p_units": quantity,
        "p_now": now,
        "p_limit": limit,
    }
    row = (await session.exec(_take_group_buy_quota(dialect), params=params)).first()  # type: ignore[call-overload]
    return row is not None


async def return_group_buy_quota(
    session: AsyncSession, *, group_buy_id: int, product_id: int, customer_id: str, quantity: int, now: datetime
) -> None:
    await session.exec(
        update(GroupBuyQuota)
        .where(
            col(GroupBuyQuota.group_buy_id) == group_buy_id,
            col(GroupBuyQuota.product_id) == product_id,
            col(GroupBuyQuota.customer_id) == customer_id,
            col(GroupBuyQuota.quantity) >= quantity,
        )
        .values(quantity=col(GroupBuyQuota.quantity) - quantity, updated_at=now)
        .execution_options(synchronize_session=False)
    )


# -- a flash sale, one buyer at a time (cancellation, closing) -----------------------------------------------------


async def return_sale_units(session: AsyncSession, *, sale_id: int, user_id: str, quantity: int, now: datetime) -> None:
    """Give units of a cancelled order back to the sale and to the buyer's quota (called once per cancellation).

    A closed sale sells nothing more: its units go back to the product instead, counted on the sale. The guard on
    `closed_at` is re-checked after waiting for a closing transaction's row lock, so a unit goes one way only.
    """
    back_to_sale = await session.exec(
        update(FlashSale)
        .where(col(FlashSale.id) == sale_id, col(FlashSale.closed_at).is_(None))
        .values(remaining=col(FlashSale.remaining) + quantity)
        .execution_options(synchronize_session=False)
    )
    if back_to_sale.rowcount == 0:
        product_id = (
            await session.exec(
                update(FlashSale)
                .where(col(FlashSale.id) == sale_id)
                .values(returned_to_product=col(FlashSale.returned_to_product) + quantity)
                .returning(col(FlashSale.product_id))
                .execution_options(synchronize_session=False)
            )
        ).one()[0]
        await return_product_units(session, product_id=product_id, quantity=quantity, now=now)
    await session.exec(
        update(FlashSalePurchase)
        .where(
            col(FlashSalePurchase.sale_id) == sale_id,
            col(FlashSalePurchase.user_id) == user_id,
            col(FlashSalePurchase.quantity) >= quantity,
        )
        .values(quantity=col(FlashSalePurchase.quantity) - quantity, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def set_aside_for_sale(session: AsyncSession, *, product_id: int, quantity: int, now: datetime) -> bool:
    """A new sale's units leave the product's stock at once, so regular orders can never eat into them."""
    return await take_product_units(session, product_id=product_id, quantity=quantity, now=now) is not None


async def close_sale(session: AsyncSession, *, sale_id: int, now: datetime) -> bool:
    """Lock an open sale, move its unsold units back to the product, mark it closed. False if already closed.

    The sale's row is locked before the product's, the order a cancellation takes them in."""
    query = (
        select(FlashSale.product_id, FlashSale.remaining)
        .where(col(FlashSale.id) == sale_id, col(FlashSale.closed_at).is_(None))
        .with_for_update()
    )
    row = (await session.exec(query)).first()
    if row is None:
        return False
    product_id, unsold = row
    await session.exec(
        update(FlashSale)
        .where(col(FlashSale.id) == sale_id)
        .values(remaining=0, returned_to_product=col(FlashSale.returned_to_product) + unsold, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    await return_product_units(session, product_id=product_id, quantity=unsold, now=now)
    return True


async def sale_remaining(session: AsyncSession, sale_id: int) -> int | None:
    query = select(FlashSale.remaining).where(FlashSale.id == sale_id)
    return (await session.exec(query)).first()


async def buyer_quantities(session: AsyncSession, sale_id: int) -> dict[str, int]:
    query = select(FlashSalePurchase.user_id, FlashSalePurchase.quantity).where(
        FlashSalePurchase.sale_id == sale_id, col(FlashSalePurchase.quantity) > 0
    )
    return {user: quantity for user, quantity in (await session.exec(query)).all()}


# -- a flash sale, a batch of buyers at once ------------------------------------------------------------------------


_LOCK_SALE = (
    select(FlashSale.remaining, FlashSale.ends_at).where(col(FlashSale.id) == bindparam("p_sale")).with_for_update()
)
_RETURN_QUOTA = (
    update(FlashSalePurchase)
    .where(col(FlashSalePurchase.sale_id) == bindparam("p_sale"), col(FlashSalePurchase.user_id) == bindparam("p_user"))
    .values(quantity=col(FlashSalePurchase.quantity) - bindparam("p_units"), updated_at=bindparam("p_now"))
)
_TAKE_SALE_UNITS = (
    update(FlashSale)
    .where(
        col(FlashSale.id) == bindparam("p_sale"),
        col(FlashSale.remaining) >= bindparam("p_units"),
        col(FlashSale.ends_at) > bindparam("p_now"),
    )
    .values(remaining=col(FlashSale.remaining) - bindparam("p_units"))
    .returning(col(FlashSale.id))
)


@functools.cache
def _take_quota(dialect_name: str) -> Executable:
    # ON CONFLICT has the same form in both dialects, but each has its own construct for it.
    table: Table = FlashSalePurchase.__table__  # type: ignore[attr-defined]
    statement = (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table).values(
        sale_id=bindparam("p_sale"),
        user_id=bindparam("p_user"),
        quantity=bindparam("p_units"),
        updated_at=bindparam("p_now"),
    )
    held = table.c.quantity + statement.excluded.quantity
    return statement.on_conflict_do_update(
        index_elements=[table.c.sale_id, table.c.user_id],
        set_={"quantity": held, "updated_at": statement.excluded.updated_at},
        where=held <= bindparam("p_limit"),
    ).returning(table.c.user_id)


async def lock_sale(bulk: Bulk, sale_id: int) -> tuple[int, datetime] | None:
    """Lock the sale's row for the batch (as a cancellation or the closing job does first); (remaining, ends_at)."""
    rows = await bulk.fetch(_LOCK_SALE, [{"p_sale": sale_id}])
    return (int(rows[0][0]), rows[0][1]) if rows else None


async def take_buyer_quotas(
    bulk: Bulk, *, sale_id: int, wanted: Sequence[tuple[str, int]], limit: int, now: datetime
) -> set[str]:
    """Count each buyer's units against the per-buyer limit; the buyers within it.

    Unique per (sale, user): a buyer's first purchases racing in two processes cannot both insert the row (the
    second waits for the first's commit, then updates it under the guard). Buyers must be distinct."""
    params = [
        {"p_sale": sale_id, "p_user": user, "p_units": q, "p_now": now, "p_limit": limit}
        for user, q in wanted
        if q <= limit
    ]
    return {row[0] for row in await bulk.fetch(_take_quota(bulk.dialect_name), params)}


async def return_buyer_quotas(bulk: Bulk, *, sale_id: int, returned: Sequence[tuple[str, int]], now: datetime) -> None:
    """Undo `take_buyer_quotas` for buyers the batch could not serve after all."""
    await bulk.execute(
        _RETURN_QUOTA, [{"p_sale": sale_id, "p_user": user, "p_units": q, "p_now": now} for user, q in returned]
    )


async def take_sale_units(bulk: Bulk, *, sale_id: int, quantity: int, now: datetime) -> bool:
    # The window is checked on the row too: the terms a process cached may predate ops ending the sale early.
    return bool(await bulk.fetch(_TAKE_SALE_UNITS, [{"p_sale": sale_id, "p_units": quantity, "p_now": now}]))
