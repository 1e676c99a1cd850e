"""Flash-sale rules: ops create a sale (stock set aside from the product), customers buy at the sale price.

The result of a purchase is an ordinary order (shorter payment timeout), paid, delivered, picked up and refunded
like any other; cancelling or expiring it gives its units back to the sale, not to the product. Once a sale has
ended, `close_ended_sales` gives its unsold units back to the product, and later cancellations do the same.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from services.common import audit
from services.common.db import Database
from services.common.events.contract import FLASH_SALE_CREATED, FlashSaleCreated
from services.common.idempotency import IdempotencyContext, KeyUse, request_hash
from services.common.metrics import count_flash_sale_outcome
from services.common.pagination import Page, PageParams
from services.orders.clients import LeaderDirectory
from services.orders.db import outbox
from services.orders.flash_sales import repository
from services.orders.flash_sales.batcher import FlashBatcher, KeyStore
from services.orders.flash_sales.exceptions import (
    FlashSaleLimitReached,
    FlashSaleNotActive,
    FlashSaleNotFound,
    FlashSaleSoldOut,
    NotEnoughProductStock,
)
from services.orders.flash_sales.runtime import FlashRuntime, SaleTerms
from services.orders.flash_sales.schemas import (
    FlashOrderCreate,
    FlashSaleCreate,
    FlashSaleRead,
    ReconciliationReport,
    RedisStockView,
    StockView,
)
from services.orders.inventory import repository as inventory_repository
from services.orders.inventory import service as inventory_service
from services.orders.inventory.models import FlashSale
from services.orders.orders import service as orders_service
from services.orders.products import repository as products_repository
from services.orders.products.exceptions import ProductNotFound

log = logging.getLogger("services.orders.flash")


#: What the audit trail keeps of a sale.
_AUDITED_SALE = {"product_id", "price_fen", "stock", "remaining", "per_user_limit", "starts_at", "ends_at"}


async def create_sale(session: AsyncSession, *, data: FlashSaleCreate, created_by: str, now: datetime) -> FlashSaleRead:
    product = await products_repository.get_product(session, data.product_id)
    if product is None:
        raise ProductNotFound(f"Product {data.product_id} does not exist")
    # The sale's units leave the product's stock now, so regular orders can never eat into them.
    taken = await inventory_service.take_product_units(
        session, product_id=data.product_id, quantity=data.stock, now=now
    )
    if taken is None:
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
            created_at=now,
        ),
    )
    assert sale.id is not None
    created = FlashSaleCreated(
        flash_sale_id=sale.id,
        product_id=sale.product_id,
        product_name=sale.product_name,
        price_fen=sale.price_fen,
        stock=sale.stock,
        per_user_limit=sale.per_user_limit,
        starts_at=sale.starts_at,
        ends_at=sale.ends_at,
        created_at=now,
    )
    await outbox.record(
        session, type=FLASH_SALE_CREATED, aggregate=f"flash_sale:{sale.id}", data=created.model_dump(mode="json")
    )
    read = FlashSaleRead.model_validate(sale)
    await audit.record(
        session, outbox, actor=created_by, action="flash_sale.created", target=("flash_sale", sale.id), before=None,
        after=read.model_dump(include=_AUDITED_SALE), at=now,
    )  # fmt: skip
    return read


async def get_sale(session: AsyncSession, *, sale_id: int) -> FlashSaleRead:
    sale = await repository.get_sale(session, sale_id)
    if sale is None:
        raise FlashSaleNotFound(f"Flash sale {sale_id} does not exist")
    return FlashSaleRead.model_validate(sale)


async def list_sales(session: AsyncSession, *, page: PageParams) -> Page[FlashSaleRead]:
    rows = await repository.list_sales(session, limit=page.limit + 1, after_id=page.after_int())
    return page.page(rows, key=lambda s: [s.id], convert=FlashSaleRead.model_validate)


async def buy(
    *,
    sale_id: int,
    data: FlashOrderCreate,
    idempotency: IdempotencyContext,
    flash: FlashRuntime,
    batcher: FlashBatcher,
    db: Database,
    leaders: LeaderDirectory,
    payment_timeout_seconds: int,
    now: datetime,
) -> Response:
    """A purchase: checked here against the cached terms, then decided and written with the other purchases of its
    batch (`batcher`). The answer is the stored 201 body (or its replay) once the batch committed."""
    try:
        answer = await _buy(
            sale_id=sale_id, data=data, idempotency=idempotency, flash=flash, batcher=batcher, db=db,
            leaders=leaders, payment_timeout_seconds=payment_timeout_seconds, now=now,
        )  # fmt: skip
    except Exception as refused:
        # Anything else (an unknown leader, no database) is "other": the series is for the sale's own answers.
        count_flash_sale_outcome(_REFUSALS.get(type(refused), "other"))
        raise
    count_flash_sale_outcome("sold" if answer.status_code == 201 else "other")
    return answer


_REFUSALS: dict[type[Exception], str] = {
    FlashSaleSoldOut: "sold_out",
    FlashSaleLimitReached: "limit",
    FlashSaleNotActive: "not_active",
}


async def _buy(
    *,
    sale_id: int,
    data: FlashOrderCreate,
    idempotency: IdempotencyContext,
    flash: FlashRuntime,
    batcher: FlashBatcher,
    db: Database,
    leaders: LeaderDirectory,
    payment_timeout_seconds: int,
    now: datetime,
) -> Response:
    terms = flash.cached_terms(sale_id)
    if terms is None:
        async with db.reading() as session:
            terms = await flash.terms(session, sale_id)
    if not terms.is_open(now):
        raise FlashSaleNotActive(f"Flash sale {sale_id} runs from {terms.starts_at} to {terms.ends_at}")
    leader = await orders_service.active_leader(leaders, data.leader_id)
    return await batcher.buy(
        terms=terms,
        use=KeyUse(idempotency.user_id, idempotency.key, request_hash(data)),
        keys=KeyStore(idempotency.table, idempotency.route),
        quantity=data.quantity,
        leader=leader,
        payment_timeout_seconds=payment_timeout_seconds,
        now=now,
    )


async def end_sale(
    session: AsyncSession, *, sale_id: int, flash: FlashRuntime, ended_by: str, now: datetime
) -> FlashSaleRead:
    """End a running or future sale now (a wrong price, a product recall); a sale already over is left as it is.

    Redis hears of it once the change committed; until then the guarded update on the sale's row refuses late
    purchases. Its unsold units go back to the product when the closing job closes it."""
    current = await repository.get_sale(session, sale_id)
    window = {"starts_at": current.starts_at, "ends_at": current.ends_at} if current is not None else {}
    sale = await repository.end_sale(session, sale_id=sale_id, now=now)
    if sale is None:
        raise FlashSaleNotFound(f"Flash sale {sale_id} does not exist")
    terms = SaleTerms.of(sale)
    flash.inventory.after.register(session, committed=lambda: flash.ended(terms))
    read = FlashSaleRead.model_validate(sale)
    before, after = audit.changed(window, read.model_dump(include=set(window)))
    if after:  # a sale already over is left as it was: nothing ended, nothing to record
        await audit.record(
            session, outbox, actor=ended_by, action="flash_sale.ended", target=("flash_sale", sale_id),
            before={**before, "remaining": read.remaining}, after=after, at=now,
        )  # fmt: skip
    return read


#: A sale is closed this long after its end: far longer than a purchase decided just before the end takes to commit
#: (milliseconds) and than the orphan-reservation recovery waits (`recovery.DEFAULT_GRACE_SECONDS`), so no purchase
#: of the sale is still in flight when its units leave it.
CLOSE_GRACE_SECONDS = 300.0


async def close_ended_sales(db: Database, flash: FlashRuntime, *, now: datetime) -> list[FlashSaleRead]:
    """Give the unsold units of every sale that ended over `CLOSE_GRACE_SECONDS` ago back to its product.

    One transaction per sale; safe to run in several processes at once (the sale's row lock and the `closed_at`
    guard close each sale once). Redis forgets a closed sale: from then on the database alone counts its units.
    """
    async with db.reading() as session:
        sale_ids = await repository.ended_open_sale_ids(
            session, ended_before=now - timedelta(seconds=CLOSE_GRACE_SECONDS), limit=100
        )
    closed: list[FlashSaleRead] = []
    for sale_id in sale_ids:
        async with db.transaction() as session:
            if not await inventory_repository.close_sale(session, sale_id=sale_id, now=now):
                continue  # another process closed it first
            sale = await repository.get_sale(session, sale_id)
            assert sale is not None
            read = FlashSaleRead.model_validate(sale)
        closed.append(read)
        await flash.forget(sale_id)
        log.info("flash sale closed", extra={"sale_id": sale_id, "returned_to_product": read.returned_to_product})
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
    buyers = await inventory_repository.buyer_quantities(session, sale_id)
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
    redis = flash.inventory.redis
    if redis is not None and sale.closed_at is None:
        snapshot = await redis.snapshot(sale_id)
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
