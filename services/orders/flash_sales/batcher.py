"""The flash-sale purchase: the buyers of one sale that arrive together are decided and written together, in one
transaction (group commit), on SQLite and PostgreSQL alike.

Every buyer queued for a sale while the previous batch was being written goes into the next batch; a batch costs
a fixed number of statements (key claim, Redis call, sale row lock, quota upsert, stock update, orders, lines,
log, key answers) and one commit, whatever its size. The 201 is sent only after the batch committed, so a 2xx
means the order row is durable; the only state that can outlive a crash is a Redis reservation whose transaction
never committed, which `recovery.release_orphan_reservations` gives back (tokens carry their creation time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Table
from starlette.responses import Response

from services.common.bulk import Bulk, bulk_connection
from services.common.db import Database
from services.common.errors import DomainError
from services.common.events.contract import ORDER_PLACED, OrderLinePlaced, OrderPlaced
from services.common.idempotency import KeyUse, claim_keys, release_keys, store_responses
from services.orders.clients import LeaderInfo
from services.orders.db import outbox
from services.orders.flash_sales import repository
from services.orders.flash_sales.exceptions import FlashSaleLimitReached, FlashSaleNotActive, FlashSaleSoldOut
from services.orders.flash_sales.runtime import FlashRuntime, SaleTerms
from services.orders.inventory import repository as inventory_repository
from services.orders.inventory.redis_stock import Outcome, new_token
from services.orders.orders import repository as orders_repository
from services.orders.orders import service as orders_service
from services.orders.orders.models import Order, OrderLine, OrderStatus

log = logging.getLogger("services.orders.flash")

#: A batch is one transaction: bounded so a burst cannot make one transaction (and its lock time) huge.
MAX_BATCH = 256
#: Event-loop turns a batch waits at most for purchases still being parsed (`FlashBatcher._gather`).
GATHER_TURNS = 4


@dataclass(slots=True)
class Purchase:
    use: KeyUse
    quantity: int
    leader: LeaderInfo
    #: When the request arrived (the app's clock): the batch decides at the latest of its purchases' moments.
    now: datetime
    future: asyncio.Future[Response] = field(repr=False)
    token: str | None = None

    @property
    def user_id(self) -> str:
        return self.use.user_id


@dataclass(frozen=True, slots=True)
class KeyStore:
    """Where the purchases' Idempotency-Keys live: the same table and scope for every purchase of one sale (the
    sale's concrete path, `services.common.idempotency.target_scope`), so a batch claims its keys in one scope."""

    table: Table
    route: str


class FlashBatcher:
    """One per process. `buy` queues the purchase and awaits its batch's answer."""

    def __init__(
        self,
        runtime: FlashRuntime,
        db: Database,
        *,
        pickup_date_of: Callable[[datetime], date] = lambda now: (now + timedelta(days=1)).date(),
    ) -> None:
        #: The pickup date of an order placed at a moment (`services.orders.orders.pickup.next_pickup_date`).
        self.pickup_date_of = pickup_date_of
        self.runtime = runtime
        self.inventory = runtime.inventory
        self.db = db
        self._queues: dict[int, list[Purchase]] = {}
        self._draining: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def buy(
        self,
        *,
        terms: SaleTerms,
        use: KeyUse,
        keys: KeyStore,
        quantity: int,
        leader: LeaderInfo,
        payment_timeout_seconds: int,
        now: datetime,
    ) -> Response:
        purchase = Purchase(use, quantity, leader, now, asyncio.get_running_loop().create_future())
        self._queues.setdefault(terms.id, []).append(purchase)
        if terms.id not in self._draining:
            self._start(terms, keys, payment_timeout_seconds)
        return await purchase.future

    def _start(self, terms: SaleTerms, keys: KeyStore, payment_timeout_seconds: int) -> None:
        self._draining.add(terms.id)
        task = asyncio.get_running_loop().create_task(self._drain(terms, keys, payment_timeout_seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, terms: SaleTerms, keys: KeyStore, payment_timeout_seconds: int) -> None:
        """One batch in flight per sale: whoever queues meanwhile rides the next one (natural group commit).

        The batches that follow each other keep one connection: a checkout costs the pool's pre-ping and a reset
        on return."""
        try:
            while await self._has_work(terms.id):
                try:
                    async with bulk_connection(self.db.engine) as bulk:
                        while True:
                            batch = self._cut(terms.id)
                            if not batch:
                                return
                            if not await self._flush(bulk, terms, keys, batch, payment_timeout_seconds):
                                break  # a failed batch: the next one takes a fresh connection
                            await self._gather(terms.id)
                except Exception as exc:
                    # No connection (or it broke outside a batch): fail what is queued now, nothing was decided.
                    log.exception("flash-sale batcher has no database connection", extra={"sale_id": terms.id})
                    for purchase in self._queues.pop(terms.id, []):
                        if not purchase.future.done():
                            purchase.future.set_exception(exc)
        finally:
            self._draining.discard(terms.id)
            if self._queues.get(terms.id):  # queued while the last batch was finishing
                self._start(terms, keys, payment_timeout_seconds)

    async def _has_work(self, sale_id: int) -> bool:
        await self._gather(sale_id)
        return bool(self._queues.get(sale_id))

    async def _gather(self, sale_id: int) -> None:
        """Let the requests being parsed on this event loop queue up before a batch is cut: yield while the queue
        still grows (a few loop turns at most). The answers of a batch release a burst of new requests, and a
        batch cut at once would carry only the first of them."""
        size = -1
        for _ in range(GATHER_TURNS):
            queued = len(self._queues.get(sale_id, ()))
            if queued == size:
                return
            size = queued
            await asyncio.sleep(0)

    def _cut(self, sale_id: int) -> list[Purchase]:
        queue = self._queues.get(sale_id, [])
        batch: list[Purchase] = []
        rest: list[Purchase] = []
        users: set[str] = set()
        for purchase in queue:
            # One purchase per buyer per batch: the quota upsert touches each buyer's row once, and a buyer's
            # second key waits for the first's outcome (the limit then sees both).
            if purchase.user_id in users or len(batch) >= MAX_BATCH:
                rest.append(purchase)
            else:
                users.add(purchase.user_id)
                batch.append(purchase)
        self._queues[sale_id] = rest
        return batch

    async def _flush(
        self,
        bulk: Bulk,
        terms: SaleTerms,
        keys: KeyStore,
        batch: list[Purchase],
        payment_timeout_seconds: int,
    ) -> bool:
        """Decide and write one batch in one transaction, then answer its requests. False if the batch failed."""
        answers: list[Response | DomainError | None] = [None] * len(batch)
        to_release: list[str] = []
        try:
            async with bulk.transaction():
                await self._decide_and_write(bulk, terms, keys, batch, answers, to_release, payment_timeout_seconds)
        except BaseException as exc:
            # Nothing of this batch committed: give back every Redis reservation it made, fail its requests.
            await self._release(terms.id, [p.token for p in batch if p.token is not None])
            for purchase in batch:
                if not purchase.future.done():
                    purchase.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            log.exception("flash-sale batch failed", extra={"sale_id": terms.id, "size": len(batch)})
            return False
        await self._release(terms.id, to_release)
        for purchase, answer in zip(batch, answers, strict=True):
            if isinstance(answer, Response):
                purchase.future.set_result(answer)
            else:
                purchase.future.set_exception(answer or RuntimeError("no answer for a purchase"))
        return True

    async def _release(self, sale_id: int, tokens: list[str]) -> None:
        try:
            await self.inventory.release(sale_id, tokens)
        except Exception:
            # The recovery step releases reservations without an order later; the answer is not held back.
            log.exception("could not release flash-sale reservations", extra={"sale_id": sale_id})

    async def _decide_and_write(
        self,
        bulk: Bulk,
        terms: SaleTerms,
        keys: KeyStore,
        batch: list[Purchase],
        answers: list[Response | DomainError | None],
        to_release: list[str],
        payment_timeout_seconds: int,
    ) -> None:
        now = max(p.now for p in batch)
        index = {p.user_id: i for i, p in enumerate(batch)}

        # 1. Claim every Idempotency-Key; a key seen before answers with its stored response or its refusal.
        claims = await claim_keys(bulk, keys.table, keys.route, [p.use for p in batch], now=now)
        for i, claim in enumerate(claims):
            answers[i] = claim
        claimed = [p for p, claim in zip(batch, claims, strict=True) if claim is None]
        candidates = claimed

        # 2. Redis decides for the whole batch in one Lua call; the database mirrors the winners below.
        redis = self.inventory.redis
        if redis is not None and candidates:
            for p in candidates:
                p.token = new_token()
            outcomes = await redis.reserve_many(sale_id=terms.id, reservations=candidates, now=now)
            if outcomes and outcomes[0] == Outcome.NOT_LOADED:
                await self._load_redis(terms)
                outcomes = await redis.reserve_many(sale_id=terms.id, reservations=candidates, now=now)
            winners = []
            for p, outcome in zip(candidates, outcomes, strict=True):
                if outcome == Outcome.RESERVED:
                    winners.append(p)
                else:
                    p.token = None
                    answers[index[p.user_id]] = self.runtime.refusal(terms, outcome)
            candidates = winners

        # 3. The database's own guards: the sale's row (locked first, as a cancellation does), then each buyer's
        #    quota in one upsert that only passes buyers within the limit, then the units in arrival order.
        served: list[Purchase] = []
        if candidates:
            locked = await inventory_repository.lock_sale(bulk, terms.id)
            assert locked is not None  # sales are never deleted
            remaining, ends_at = locked
            if ends_at <= now:  # ops ended the sale after this process cached its terms (and Redis had not heard)
                self.runtime.drop_terms(terms.id)
                for p in candidates:
                    answers[index[p.user_id]] = FlashSaleNotActive()
                candidates = []
            passing = await inventory_repository.take_buyer_quotas(
                bulk,
                sale_id=terms.id,
                wanted=[(p.user_id, p.quantity) for p in candidates],
                limit=terms.per_user_limit,
                now=now,
            )
            unserved: list[Purchase] = []
            for p in candidates:
                if p.user_id not in passing:
                    answers[index[p.user_id]] = FlashSaleLimitReached(f"At most {terms.per_user_limit} per person")
                elif p.quantity <= remaining:
                    remaining -= p.quantity
                    served.append(p)
                else:
                    unserved.append(p)
                    answers[index[p.user_id]] = FlashSaleSoldOut()
            if unserved:
                if remaining == 0:
                    self.inventory.mark_sold_out(terms.id)
                await inventory_repository.return_buyer_quotas(
                    bulk, sale_id=terms.id, returned=[(p.user_id, p.quantity) for p in unserved], now=now
                )
        sold = {p.user_id for p in served}
        to_release.extend(p.token for p in claimed if p.user_id not in sold and p.token is not None)

        # 4. The units, then the orders, their lines and log entries, and the answers kept for the keys.
        if served:
            units = sum(p.quantity for p in served)
            if not await inventory_repository.take_sale_units(bulk, sale_id=terms.id, quantity=units, now=now):
                # Cannot happen under the row lock; never sell what is not there: the whole batch rolls back.
                raise RuntimeError(f"flash sale {terms.id}: the stock guard refused {units} units")
            bodies = await self._write_orders(bulk, terms, served, now, payment_timeout_seconds)
            for p, body in zip(served, bodies, strict=True):
                answers[index[p.user_id]] = Response(body, status_code=201, media_type="application/json")
            await store_responses(
                bulk, keys.table, keys.route, [(p.use, 201, body) for p, body in zip(served, bodies, strict=True)]
            )

        # 5. A refused purchase leaves no key behind (as a rolled-back request would): a retry is decided afresh.
        await release_keys(bulk, keys.table, keys.route, [p.use for p in claimed if p.user_id not in sold])

    async def _load_redis(self, terms: SaleTerms) -> None:
        """Redis lost the sale (restart, eviction) or never had it: load it from the database."""
        redis = self.inventory.redis
        assert redis is not None
        async with self.db.reading() as session:
            remaining = await inventory_repository.sale_remaining(session, terms.id)
            assert remaining is not None
            await redis.load(
                terms.id,
                remaining=remaining,
                stock=terms.stock,
                per_user_limit=terms.per_user_limit,
                starts_at=terms.starts_at,
                ends_at=terms.ends_at,
                buyers=await inventory_repository.buyer_quantities(session, terms.id),
                reservations=await repository.live_reservations(session, terms.id),
            )

    async def _write_orders(
        self,
        bulk: Bulk,
        terms: SaleTerms,
        served: list[Purchase],
        now: datetime,
        payment_timeout_seconds: int,
    ) -> list[bytes]:
        """Insert the served purchases' orders (one line and one log entry each); their 201 bodies."""
        expires = now + timedelta(seconds=payment_timeout_seconds)
        pickup_date = self.pickup_date_of(now)
        amounts = [terms.price_fen * p.quantity for p in served]
        order_ids = await orders_repository.insert_many_orders(
            bulk,
            [
                {"customer_id": p.user_id, "leader_id": p.leader.leader_id, "status": OrderStatus.PENDING_PAYMENT,
                 "goods_fen": amount, "payable_fen": amount, "flash_sale_id": terms.id,
                 "flash_reservation": p.token, "pickup_point": p.leader.pickup_point, "expires_at": expires,
                 "pickup_date": pickup_date, "created_at": now, "updated_at": now}
                for p, amount in zip(served, amounts, strict=True)
            ],
        )  # fmt: skip
        line_ids = await orders_repository.insert_many_lines(
            bulk,
            [
                {"order_id": order_id, "product_id": terms.product_id, "product_name": terms.product_name,
                 "quantity": p.quantity, "unit_price_fen": terms.price_fen, "amount_fen": amount, "paid_fen": amount}
                for p, order_id, amount in zip(served, order_ids, amounts, strict=True)
            ],
        )  # fmt: skip
        await orders_repository.add_many_logs(
            bulk,
            [
                {"order_id": order_id, "from_status": None, "to_status": OrderStatus.PENDING_PAYMENT,
                 "actor": p.user_id, "note": f"flash sale {terms.id}", "created_at": now}
                for p, order_id in zip(served, order_ids, strict=True)
            ],
        )  # fmt: skip
        await outbox.record_many(
            bulk,
            [
                (ORDER_PLACED, f"order:{order_id}", _placed(terms, p, order_id, line_id, amount, now))
                for p, order_id, line_id, amount in zip(served, order_ids, line_ids, amounts, strict=True)
            ],
        )
        return _bodies(terms, served, order_ids, line_ids, amounts, expires, pickup_date, now)


def _placed(terms: SaleTerms, p: Purchase, order_id: int, line_id: int, amount: int, now: datetime) -> dict[str, Any]:
    line = OrderLinePlaced(
        line_id=line_id,
        product_id=terms.product_id,
        product_name=terms.product_name,
        quantity=p.quantity,
        unit_price_fen=terms.price_fen,
        amount_fen=amount,
    )
    placed = OrderPlaced(
        order_id=order_id,
        customer_id=p.user_id,
        leader_id=p.leader.leader_id,
        lines=[line],
        goods_fen=amount,
        payable_fen=amount,
        placed_at=now,
        flash_sale_id=terms.id,
    )
    return placed.model_dump(mode="json")


def _bodies(
    terms: SaleTerms,
    served: Sequence[Purchase],
    order_ids: list[int],
    line_ids: list[int],
    amounts: list[int],
    expires: datetime,
    pickup_date: date,
    now: datetime,
) -> list[bytes]:
    """The 201 bodies of a batch, as `orders_service.to_read` gives them.

    `to_read` runs once per batch, on the first order; the orders of a batch differ from it only in the fields
    set below (one `OrderRead` per purchase cost more than the statements)."""
    first = served[0]
    order = Order(
        id=order_ids[0],
        customer_id=first.user_id,
        leader_id=first.leader.leader_id,
        status=OrderStatus.PENDING_PAYMENT,
        goods_fen=amounts[0],
        payable_fen=amounts[0],
        flash_sale_id=terms.id,
        pickup_point=first.leader.pickup_point,
        pickup_date=pickup_date,
        expires_at=expires,
        created_at=now,
        updated_at=now,
    )
    line = OrderLine(
        id=line_ids[0],
        order_id=order_ids[0],
        product_id=terms.product_id,
        product_name=terms.product_name,
        quantity=first.quantity,
        unit_price_fen=terms.price_fen,
        amount_fen=amounts[0],
        paid_fen=amounts[0],
    )
    template: dict[str, Any] = orders_service.to_read(order, [line], first.user_id).model_dump(mode="json")
    line_template = template["lines"][0]
    bodies = [orjson.dumps(template)]
    for p, order_id, line_id, amount in zip(served[1:], order_ids[1:], line_ids[1:], amounts[1:], strict=True):
        one_line = {**line_template, "id": line_id, "quantity": p.quantity, "amount_fen": amount, "paid_fen": amount}
        body = {**template, "id": order_id, "customer_id": p.user_id, "leader_id": p.leader.leader_id,
                "lines": [one_line], "goods_fen": amount, "payable_fen": amount,
                "pickup_point": p.leader.pickup_point}  # fmt: skip
        bodies.append(orjson.dumps(body))
    return bodies
