"""Taking and returning units of a product or of a flash sale: what orders, refunds and flash sales call.

A flash sale's units are counted in the database (`flash_sales.remaining`, the buyers' quota rows) and, with
`ORDERS_REDIS_URL`, first decided in Redis (`redis_stock`), which the database then mirrors under its own guards.
Each process also keeps a sold-out flag per sale: once a sale answered sold out, further buyers are told so from
memory for `ORDERS_FLASH_SOLD_OUT_TTL_SECONDS`. The flag is cleared at once when this process returns a unit;
other processes see returned units when their flag expires.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.txn import AfterTransaction
from services.orders.inventory import repository
from services.orders.inventory.redis_stock import RedisSaleStock

log = logging.getLogger("services.orders.inventory")


async def take_product_units(
    session: AsyncSession, *, product_id: int, quantity: int, now: datetime
) -> tuple[str, int] | None:
    """Take units of a product for an order; the product's (name, price), or None when it has too few (or none).
    Callers take several products in ascending id order."""
    return await repository.take_product_units(session, product_id=product_id, quantity=quantity, now=now)


async def return_product_units(session: AsyncSession, *, units: Sequence[tuple[int, int]], now: datetime) -> None:
    """Put (product id, quantity) units back on sale, products in ascending id order."""
    for product_id, quantity in sorted(units):
        await repository.return_product_units(session, product_id=product_id, quantity=quantity, now=now)


async def take_catalogue_units(
    session: AsyncSession, *, product_id: int, sku_id: int | None, quantity: int, now: datetime
) -> tuple[str, int, int | None] | None:
    """Take units for a regular or group-buy order line: of the SKU when it names one, of the product otherwise.
    (name, price, cost price) of what was taken, or None when there are too few or it is not on sale. Callers take
    lines in ascending (product, SKU) order."""
    if sku_id is None:
        return await repository.take_on_shelf_units(session, product_id=product_id, quantity=quantity, now=now)
    return await repository.take_sku_units(session, product_id=product_id, sku_id=sku_id, quantity=quantity, now=now)


async def return_sku_units(session: AsyncSession, *, units: Sequence[tuple[int, int]], now: datetime) -> None:
    """Put (SKU id, quantity) units back on sale, SKUs in ascending id order."""
    for sku_id, quantity in sorted(units):
        await repository.return_sku_units(session, sku_id=sku_id, quantity=quantity, now=now)


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
    """Count a customer's units of a product in a group-buy against its limit; False when it would be exceeded."""
    return await repository.take_group_buy_quota(
        session,
        group_buy_id=group_buy_id,
        product_id=product_id,
        customer_id=customer_id,
        quantity=quantity,
        limit=limit,
        now=now,
    )


async def return_group_buy_quota(
    session: AsyncSession,
    *,
    group_buy_id: int,
    customer_id: str,
    units: Sequence[tuple[int, int]],
    now: datetime,
) -> None:
    """A cancelled order's (product id, quantity) units no longer count against the customer's limits."""
    for product_id, quantity in sorted(units):
        await repository.return_group_buy_quota(
            session,
            group_buy_id=group_buy_id,
            product_id=product_id,
            customer_id=customer_id,
            quantity=quantity,
            now=now,
        )


class Inventory:
    """Per process: the Redis stock of flash sales (when configured) and the sold-out flags."""

    def __init__(self, *, redis: RedisSaleStock | None, sold_out_ttl_seconds: float, after: AfterTransaction) -> None:
        self.redis = redis
        self.sold_out_ttl = sold_out_ttl_seconds
        #: The app's one after-transaction registry (`app.state.after_transaction`).
        self.after = after
        self._sold_out: dict[int, float] = {}

    # -- sold-out flags -------------------------------------------------------------------------------------------
    def has_sold_out(self) -> bool:
        """Whether any sale is flagged (expired flags included): the cheap first test of the sold-out layer."""
        return bool(self._sold_out)

    def known_sold_out(self, sale_id: int) -> bool:
        marked = self._sold_out.get(sale_id)
        if marked is None:
            return False
        if time.monotonic() - marked >= self.sold_out_ttl:
            del self._sold_out[sale_id]
            return False
        return True

    def mark_sold_out(self, sale_id: int) -> None:
        if self.sold_out_ttl > 0:
            self._sold_out[sale_id] = time.monotonic()

    def clear_sold_out(self, sale_id: int) -> None:
        self._sold_out.pop(sale_id, None)

    # -- returning units ------------------------------------------------------------------------------------------
    async def return_order_units(
        self,
        session: AsyncSession,
        *,
        units: Sequence[tuple[int, int]],
        customer_id: str,
        sale_id: int | None,
        reservation: str | None,
        now: datetime,
    ) -> None:
        """The (product id, quantity) units of a cancelled unpaid order come back: to its flash sale (its buyer's
        quota, and its Redis reservation once the cancellation committed) or to the products."""
        if sale_id is None:
            await return_product_units(session, units=units, now=now)
            return
        quantity = sum(q for _, q in units)
        await repository.return_sale_units(session, sale_id=sale_id, user_id=customer_id, quantity=quantity, now=now)
        self.clear_sold_out(sale_id)
        if self.redis is not None and reservation is not None:
            token = reservation

            async def release_reservation() -> None:
                await self.release(sale_id, [token])

            self.after.register(session, committed=release_reservation)

    async def release(self, sale_id: int, tokens: Sequence[str]) -> int:
        """Give Redis reservations back (idempotent by token); how many this call released."""
        if self.redis is None or not tokens:
            return 0
        released = await self.redis.release_many(sale_id=sale_id, tokens=tokens)
        if released:
            self.clear_sold_out(sale_id)
        return released

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.client.aclose()
