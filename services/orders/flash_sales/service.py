"""Flash-sale rules: ops create a sale (stock set aside from the product), customers buy at the sale price.

The result of a purchase is an ordinary order (shorter payment timeout), paid, delivered, picked up and refunded
like any other; cancelling or expiring it gives its units back to the sale, not to the product. Once a sale has
ended, `close_ended_sales` gives its unsold units back to the product, and later cancellations do the same.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import utcnow
from services.common.db import Database
from services.common.pagination import Page, PageParams
from services.orders.clients import LeaderDirectory
from services.orders.flash_sales import repository
from services.orders.flash_sales.exceptions import FlashSaleNotActive, FlashSaleNotFound, NotEnoughProductStock
from services.orders.flash_sales.models import FlashSale
from services.orders.flash_sales.schemas import (
    FlashOrderCreate,
    FlashSaleCreate,
    FlashSaleRead,
    ReconciliationReport,
    RedisStockView,
    StockView,
)
from services.orders.flash_sales.stock import FlashRuntime, SaleTerms
from services.orders.orders import repository as orders_repository
from services.orders.orders import service as orders_service
from services.orders.orders.models import PENDING_PAYMENT, Order, OrderLine
from services.orders.orders.schemas import OrderRead
from services.orders.products import repository as products_repository
from services.orders.products.exceptions import ProductNotFound

log = logging.getLogger("services.orders.flash")


async def create_sale(session: AsyncSession, *, data: FlashSaleCreate, created_by: str) -> FlashSaleRead:
    product = await products_repository.get_product(session, data.product_id)
    if product is None:
        raise ProductNotFound(f"Product {data.product_id} does not exist")
    # The sale's units leave the product's stock now, so regular orders can never eat into them.
    if not await repository.set_aside_product_stock(session, product_id=data.product_id, quantity=data.stock):
        raise NotEnoughProductStock(f"Product {data.product_id} has {product.stock} units, {data.stock} asked")
    sale = await repository.insert_sale(
        session,
        FlashSale(
            product_id=data.product_id,
            product_name=product.name,
            price_fen=data.price_fen,
            stock=data.stock,
            remaining=data.stock,
            per_user_limit=data.per_user_limit,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            created_by=created_by,
        ),
    )
    return FlashSaleRead.model_validate(sale)


async def get_sale(session: AsyncSession, *, sale_id: int) -> FlashSaleRead:
    sale = await repository.get_sale(session, sale_id)
    if sale is None:
        raise FlashSaleNotFound(f"Flash sale {sale_id} does not exist")
    return FlashSaleRead.model_validate(sale)


async def list_sales(session: AsyncSession, *, page: PageParams) -> Page[FlashSaleRead]:
    rows = await repository.list_sales(session, limit=page.limit + 1, after_id=page.after_int())
    return page.page(rows, key=lambda s: [s.id], convert=FlashSaleRead.model_validate)


async def buy(
    session: AsyncSession,
    *,
    sale_id: int,
    customer_id: str,
    data: FlashOrderCreate,
    flash: FlashRuntime,
    leaders: LeaderDirectory,
    payment_timeout_seconds: int,
) -> OrderRead:
    terms = await flash.terms(session, sale_id)
    now = utcnow()
    if not terms.is_open(now):
        raise FlashSaleNotActive(f"Flash sale {sale_id} runs from {terms.starts_at} to {terms.ends_at}")
    leader = await orders_service.active_leader(leaders, data.leader_id)
    token = await flash.decide(session, terms=terms, user_id=customer_id, quantity=data.quantity, now=now)
    try:
        amount = terms.price_fen * data.quantity
        order = await orders_repository.insert_order(
            session,
            Order(
                customer_id=customer_id,
                leader_id=leader.leader_id,
                status=PENDING_PAYMENT,
                goods_fen=amount,
                payable_fen=amount,
                flash_sale_id=sale_id,
                flash_reservation=token,
                pickup_point=leader.pickup_point,
                expires_at=now + timedelta(seconds=payment_timeout_seconds),
                created_at=now,
                updated_at=now,
            ),
        )
        assert order.id is not None
        line = OrderLine(
            order_id=order.id,
            product_id=terms.product_id,
            product_name=terms.product_name,
            quantity=data.quantity,
            unit_price_fen=terms.price_fen,
            amount_fen=amount,
            paid_fen=amount,
        )
        await orders_repository.insert_lines(session, [line])
        await orders_repository.add_log(
            session,
            order_id=order.id,
            from_status=None,
            to_status=PENDING_PAYMENT,
            actor=customer_id,
            note=f"flash sale {sale_id}",
        )
    except BaseException:
        if token is not None:
            await flash.release_now(sale_id, token)
        raise
    return orders_service.to_read(order, [line], customer_id)


async def end_sale(session: AsyncSession, *, sale_id: int, flash: FlashRuntime) -> FlashSaleRead:
    """End a running or future sale now (a wrong price, a product recall); a sale already over is left as it is.

    Redis hears of it once the change committed; until then the guarded update on the sale's row refuses late
    purchases. Its unsold units go back to the product when the closing job closes it."""
    sale = await repository.end_sale(session, sale_id=sale_id, now=utcnow())
    if sale is None:
        raise FlashSaleNotFound(f"Flash sale {sale_id} does not exist")
    terms = SaleTerms.of(sale)
    flash.after.register(session, committed=lambda: flash.ended(terms))
    return FlashSaleRead.model_validate(sale)


#: A sale is closed this long after its end: far longer than a purchase decided just before the end takes to commit
#: (milliseconds) and than the orphan-reservation recovery waits (`recovery.DEFAULT_GRACE_SECONDS`), so no purchase
#: of the sale is still in flight when its units leave it.
CLOSE_GRACE_SECONDS = 300.0
#: How often the orders app looks for ended sales to close (`services/orders/app.py`).
CLOSE_INTERVAL_SECONDS = 60.0


async def close_ended_sales(db: Database, flash: FlashRuntime, *, now: datetime | None = None) -> list[FlashSaleRead]:
    """Give the unsold units of every sale that ended over `CLOSE_GRACE_SECONDS` ago back to its product.

    One transaction per sale; safe to run in several processes at once (the sale's row lock and the `closed_at`
    guard close each sale once). Redis forgets a closed sale: from then on the database alone counts its units.
    """
    now = now or utcnow()
    async with db.read_sessionmaker() as session:
        sale_ids = await repository.ended_open_sale_ids(
            session, ended_before=now - timedelta(seconds=CLOSE_GRACE_SECONDS), limit=100
        )
    closed: list[FlashSaleRead] = []
    for sale_id in sale_ids:
        async with db.sessionmaker() as session, session.begin():
            sale = await repository.close_sale(session, sale_id=sale_id, now=now)
        if sale is None:
            continue  # another process closed it first
        closed.append(FlashSaleRead.model_validate(sale))
        await flash.forget(sale_id)
        log.info("flash sale closed", extra={"sale_id": sale_id, "returned_to_product": sale.returned_to_product})
    return closed


async def reconcile(session: AsyncSession, *, sale_id: int, flash: FlashRuntime) -> ReconciliationReport:
    """Compare the sale's counts in the database with each other and with Redis; list every difference.

    Purchases still in flight (reserved in Redis, order not yet committed) show up as differences for a moment:
    run it on a quiet sale, or twice.
    """
    sale = await repository.get_sale(session, sale_id)
    if sale is None:
        raise FlashSaleNotFound(f"Flash sale {sale_id} does not exist")
    sold = await repository.sold_units(session, sale_id)
    buyers = await repository.buyer_quantities(session, sale_id)
    reservations = await repository.live_reservations(session, sale_id)
    differences: list[str] = []
    if sale.stock - sale.remaining - sale.returned_to_product != sold:
        differences.append(
            f"database: stock {sale.stock} - remaining {sale.remaining} - returned to the product "
            f"{sale.returned_to_product} != {sold} units on orders"
        )
    if sum(buyers.values()) != sold:
        differences.append(f"database: buyers hold {sum(buyers.values())} units, orders hold {sold}")
    database = StockView(
        remaining=sale.remaining,
        buyers=len(buyers),
        units_held_by_buyers=sum(buyers.values()),
        live_reservations=len(reservations),
    )
    redis_view: RedisStockView | None = None
    # A closed sale is counted by the database alone (Redis forgets it; keys left by a crash are not compared).
    if flash.redis is not None and sale.closed_at is None:
        snapshot = await flash.redis.snapshot(sale_id)
        if snapshot is not None:
            redis_buyers: dict[str, int] = snapshot["buyers"]
            redis_reservations: dict[str, tuple[str, int]] = snapshot["reservations"]
            redis_view = RedisStockView(
                remaining=snapshot["remaining"],
                buyers=len(redis_buyers),
                units_held_by_buyers=sum(redis_buyers.values()),
                live_reservations=len(redis_reservations),
                reserved_total=snapshot["reserved"],
                released_total=snapshot["released"],
            )
            if snapshot["remaining"] != sale.remaining:
                differences.append(f"remaining: redis {snapshot['remaining']}, database {sale.remaining}")
            if redis_buyers != buyers:
                changed = sorted(set(redis_buyers.items()) ^ set(buyers.items()))[:10]
                differences.append(f"buyers differ (user, units): {changed}")
            if set(redis_reservations) != set(reservations):
                only_redis = sorted(set(redis_reservations) - set(reservations))[:10]
                only_db = sorted(set(reservations) - set(redis_reservations))[:10]
                differences.append(f"reservations only in redis: {only_redis}; only in database: {only_db}")
            if snapshot["reserved"] - snapshot["released"] != len(redis_reservations):
                differences.append(
                    f"redis: {snapshot['reserved']} reserved - {snapshot['released']} released "
                    f"!= {len(redis_reservations)} live reservations"
                )
    return ReconciliationReport(
        sale_id=sale_id,
        stock=sale.stock,
        sold_units=sold,
        database=database,
        redis=redis_view,
        differences=differences,
        consistent=not differences,
    )
