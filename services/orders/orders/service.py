"""Order rules: creation with stock and points, the state machine, pickup, refunds, and the order log.

Every change of state is a guarded update naming the state it expects, so racing paths (a customer cancel and the
payment timeout, a payment and a cancel) resolve to exactly one winner, and only the winner returns stock, writes
the log and the outbox event.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.common.auth import Principal
from services.common.db import Database
from services.common.events.contract import (
    ORDER_CANCELLED,
    ORDER_PAID,
    ORDER_PICKED_UP,
    ORDER_PLACED,
    ORDER_REFUNDED,
    OrderCancelled,
    OrderLinePaid,
    OrderLinePlaced,
    OrderLineRefund,
    OrderLineState,
    OrderPaid,
    OrderPickedUp,
    OrderPlaced,
    OrderRefunded,
)
from services.common.pagination import Page, PageParams
from services.common.permissions import Permission
from services.common.txn import AfterTransaction
from services.orders.clients import (
    LeaderDirectory,
    LeaderInfo,
    PointsClient,
    PointsNotUsable,
    PointsTimeout,
    PointsUnavailable,
)
from services.orders.db import outbox
from services.orders.inventory import service as inventory_service
from services.orders.inventory.service import Inventory
from services.orders.orders import repository
from services.orders.orders.access import order_for_customer, order_for_leader, readable_order
from services.orders.orders.allocation import cumulative_share, spread
from services.orders.orders.exceptions import (
    AfterSaleRequired,
    CustomerFilterForbidden,
    DuplicateProduct,
    InvalidOrderState,
    LeaderFilterForbidden,
    LeaderNotActive,
    NotOrderOwner,
    OrderLineNotFound,
    OrderNotCancellable,
    OrderNotRefundable,
    PickupLocked,
    QuantityTooLarge,
    RefundExceedsPurchase,
    TooManyLines,
    TooManyUnpaidOrders,
    TooManyUnpaidUnits,
    UnknownLeader,
    WrongPickupCode,
)
from services.orders.orders.models import (
    Order,
    OrderCancelReason,
    OrderLine,
    OrderStatus,
    Refund,
    RefundLine,
    RefundProviderStatus,
)
from services.orders.orders.pricing import WantedLine, price_order
from services.orders.orders.schemas import (
    OrderCreate,
    OrderFilters,
    OrderLineRead,
    OrderLogEntry,
    OrderRead,
    RefundCreate,
    RefundLineIn,
    RefundLineRead,
    RefundRead,
)

log = logging.getLogger("services.orders")

SYSTEM = "system"
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class OrderLimits:
    max_lines: int
    max_quantity_per_line: int
    payment_timeout_seconds: int
    #: The business time zone and daily cut-off that give an order outside a group-buy its pickup date.
    tz: ZoneInfo = DEFAULT_TZ
    cutoff: time = time(22, 0)
    #: What one customer may hold unpaid at once (`ORDERS_MAX_UNPAID_ORDERS_PER_CUSTOMER`, `..._UNITS_...`).
    max_unpaid_orders: int = 5
    max_unpaid_units: int = 200


def _aggregate(order_id: int) -> str:
    return f"order:{order_id}"


def _oid(order: Order) -> int:
    assert order.id is not None
    return order.id


def to_read(order: Order, lines: Sequence[OrderLine], viewer: str | None) -> OrderRead:
    return OrderRead(
        id=_oid(order),
        status=order.status,
        customer_id=order.customer_id,
        leader_id=order.leader_id,
        lines=[OrderLineRead.model_validate(line) for line in lines],
        goods_fen=order.goods_fen,
        points_used=order.points_used,
        points_discount_fen=order.points_discount_fen,
        payable_fen=order.payable_fen,
        refunded_fen=order.refunded_fen,
        refund_status=order.refund_status,
        flash_sale_id=order.flash_sale_id,
        pickup_point=order.pickup_point,
        # The code is the customer's proof at the pickup point: the leader must not be able to read it.
        pickup_code=order.pickup_code if viewer == order.customer_id else None,
        delivery_batch_id=order.delivery_batch_id,
        pickup_date=order.pickup_date,
        group_buy_id=order.group_buy_id,
        expires_at=order.expires_at,
        created_at=order.created_at,
        paid_at=order.paid_at,
        ready_at=order.ready_at,
        picked_up_at=order.picked_up_at,
        cancelled_at=order.cancelled_at,
        cancel_reason=order.cancel_reason,
    )


async def read_order(session: AsyncSession, order_id: int, viewer: str | None) -> OrderRead:
    """The order as it is now, after a change to it in this transaction."""
    order = await repository.get_order(session, order_id)
    assert order is not None, "orders are never deleted"
    return to_read(order, await repository.get_lines(session, order_id), viewer)


async def active_leader(leaders: LeaderDirectory, leader_id: str) -> LeaderInfo:
    leader = await leaders.get_leader(leader_id)
    if leader is None:
        raise UnknownLeader(f"No leader {leader_id!r}")
    if not leader.is_active:
        raise LeaderNotActive(f"Leader {leader_id!r} is {leader.status}")
    return leader


# -- creation ------------------------------------------------------------------------------------------------------


async def create_order(
    session: AsyncSession,
    *,
    customer_id: str,
    data: OrderCreate,
    leaders: LeaderDirectory,
    points: PointsClient,
    after: AfterTransaction,
    db: Database,
    limits: OrderLimits,
    now: datetime,
) -> OrderRead:
    if len(data.lines) > limits.max_lines:
        raise TooManyLines(f"At most {limits.max_lines} lines per order")
    wanted: dict[tuple[int, int | None], int] = {}
    for line in data.lines:
        if (line.product_id, line.sku_id) in wanted:
            raise DuplicateProduct(f"Product {line.product_id} appears on more than one line")
        if line.quantity > limits.max_quantity_per_line:
            raise QuantityTooLarge(f"At most {limits.max_quantity_per_line} units per line")
        wanted[(line.product_id, line.sku_id)] = line.quantity
    leader = await active_leader(leaders, data.leader_id)
    # Before any stock is taken: the customer's row is locked first and products after it, as everywhere.
    await take_unpaid_slot(session, customer_id=customer_id, units=sum(wanted.values()), limits=limits, now=now)
    pricing = await price_order(
        session,
        customer_id=customer_id,
        wanted=[WantedLine(product_id=p, sku_id=k, quantity=q) for (p, k), q in wanted.items()],
        group_buy_id=data.group_buy_id,
        region=leader.region,
        tz=limits.tz,
        cutoff=limits.cutoff,
        now=now,
    )
    priced = pricing.lines

    amounts = [line.unit_price_fen * line.quantity for line in priced]
    goods_fen = sum(amounts)
    order = await repository.insert_order(
        session,
        Order(
            customer_id=customer_id,
            leader_id=leader.leader_id,
            status=OrderStatus.PENDING_PAYMENT,
            goods_fen=goods_fen,
            payable_fen=goods_fen,
            pickup_point=leader.pickup_point,
            pickup_date=pricing.pickup_date,
            group_buy_id=pricing.group_buy_id,
            expires_at=now + timedelta(seconds=limits.payment_timeout_seconds),
            created_at=now,
            updated_at=now,
        ),
    )
    order_id = _oid(order)
    held = False
    try:
        points_used = discount_fen = 0
        if data.points > 0:
            # The order id is the hold's idempotency key: a retried request holds the same points, not more.
            # (PostgreSQL never hands out an id twice; SQLite can reuse the id of a rolled-back order, which is
            # why a hold made for an order that then failed is released at once.)
            try:
                hold = await points.hold(
                    order_id=order_id, user_id=customer_id, points=data.points, goods_fen=goods_fen
                )
            except (PointsTimeout, PointsUnavailable):
                # The hold may have been made without our hearing back (the points service died after committing
                # it, or answered too late); this order will not exist, so undo it, durably if need be.
                await release_points_quietly(points, order_id)
                after.register(session, rolled_back=lambda: release_or_remember(db, points, order_id, now=now))
                raise
            held = True
            after.register(session, rolled_back=lambda: release_or_remember(db, points, order_id, now=now))
            if hold.discount_fen > goods_fen or hold.discount_fen < 0 or hold.points < 0:
                raise PointsNotUsable("The points discount is larger than the goods")
            points_used, discount_fen = hold.points, hold.discount_fen
        line_discounts = spread(discount_fen, amounts)
        line_points = spread(points_used, amounts)
        lines = [
            OrderLine(
                order_id=order_id,
                product_id=p.product_id,
                product_name=p.product_name,
                sku_id=p.sku_id,
                sku_name=p.sku_name,
                cost_fen=p.cost_fen,
                quantity=p.quantity,
                unit_price_fen=p.unit_price_fen,
                amount_fen=amount,
                points_discount_fen=line_discount,
                points_used=line_point,
                paid_fen=amount - line_discount,
            )
            for p, amount, line_discount, line_point in zip(priced, amounts, line_discounts, line_points, strict=True)
        ]
        await repository.insert_lines(session, lines)
        order.points_used = points_used
        order.points_discount_fen = discount_fen
        order.payable_fen = goods_fen - discount_fen
        session.add(order)
        await repository.add_log(
            session,
            order_id=order_id,
            from_status=None,
            to_status=OrderStatus.PENDING_PAYMENT,
            actor=customer_id,
            note=None,
        )
        await outbox.record(
            session,
            type=ORDER_PLACED,
            aggregate=_aggregate(order_id),
            data=placed_event(order, lines, placed_at=now).model_dump(mode="json"),
        )
    except BaseException:
        if held:
            await release_points_quietly(points, order_id)
        raise
    return to_read(order, lines, customer_id)


def placed_event(order: Order, lines: Sequence[OrderLine], *, placed_at: datetime) -> OrderPlaced:
    """`order.placed`: what analytics counts as a purchase (flash-sale conversion, buyers who never paid)."""
    return OrderPlaced(
        order_id=_oid(order),
        customer_id=order.customer_id,
        leader_id=order.leader_id,
        lines=[
            OrderLinePlaced(
                line_id=line.id or 0,
                product_id=line.product_id,
                product_name=line.product_name,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                amount_fen=line.amount_fen,
            )
            for line in lines
        ],
        goods_fen=order.goods_fen,
        payable_fen=order.payable_fen,
        placed_at=placed_at,
        flash_sale_id=order.flash_sale_id,
    )


async def release_points_quietly(points: PointsClient, order_id: int) -> None:
    """Best effort, while the failed order's transaction still holds its id (see `release_or_remember`)."""
    try:
        await points.release(order_id=order_id)
    except Exception:
        log.warning("could not release points hold", extra={"order_id": order_id}, exc_info=True)


async def release_or_remember(db: Database, points: PointsClient, order_id: int, *, now: datetime) -> None:
    """After a failed order rolled back: release its hold, or record it so `release_abandoned_hold` keeps trying.

    Without the record, a customer whose first attempt died between the hold and the commit would find their points
    held (and a retry refused with INSUFFICIENT_POINTS) until the points service expires the hold, an hour later.
    """
    try:
        await points.release(order_id=order_id)
        return
    except Exception as exc:
        error = repr(exc)
    async with db.transaction() as session:
        await repository.remember_abandoned_hold(session, order_id=order_id, error=error, now=now)
    log.warning("points hold release deferred", extra={"order_id": order_id, "error": error})


async def release_abandoned_hold(session: AsyncSession, *, order_id: int, points: PointsClient) -> bool:
    """Send a release that could not be sent when its order failed (`release_or_remember` recorded it). True if it
    landed; a failure is noted on the record, which stays for the next run."""
    if await repository.get_order(session, order_id) is not None:
        # SQLite can hand a rolled-back order's id to a later order, whose hold this now is: keep it.
        await repository.forget_abandoned_hold(session, order_id)
        return False
    try:
        await points.release(order_id=order_id)
    except Exception as exc:
        await repository.note_abandoned_hold_failure(session, order_id=order_id, error=repr(exc))
        return False
    await repository.forget_abandoned_hold(session, order_id)
    return True


async def release_orphan_hold(session: AsyncSession, *, order_id: int, points: PointsClient) -> bool:
    """Release a hold the points service still keeps for an order that does not exist here: the orders process died
    between the hold and its commit, so nothing was recorded. True if released; an existing order keeps its hold.
    Raises `PointsUnavailable`/`PointsTimeout` when the release could not be sent."""
    if await repository.existing_order_ids(session, [order_id]):
        return False
    await points.release(order_id=order_id)
    return True


async def take_unpaid_slot(
    session: AsyncSession, *, customer_id: str, units: int, limits: OrderLimits, now: datetime
) -> None:
    """Count a new unpaid order against the customer's caps, or refuse it, so one account cannot hold a product's
    stock for the payment window. Given back by `return_unpaid_slot` when the order is paid, cancelled or expires."""
    if units > limits.max_unpaid_units:
        raise TooManyUnpaidUnits(f"At most {limits.max_unpaid_units} units may wait for payment at once")
    if await repository.take_unpaid(
        session,
        customer_id=customer_id,
        units=units,
        max_orders=limits.max_unpaid_orders,
        max_units=limits.max_unpaid_units,
        now=now,
    ):
        return
    held = await repository.get_unpaid(session, customer_id)
    if held is not None and held.orders >= limits.max_unpaid_orders:
        raise TooManyUnpaidOrders(
            f"{held.orders} orders are waiting for payment; at most {limits.max_unpaid_orders} may at once"
        )
    raise TooManyUnpaidUnits(
        f"{held.units if held else 0} units are waiting for payment; this order's {units} would exceed "
        f"{limits.max_unpaid_units}"
    )


async def return_unpaid_slot(session: AsyncSession, *, order: Order, lines: Sequence[OrderLine], now: datetime) -> None:
    """The order left `pending_payment`: it no longer counts against its customer's caps. Called only by the
    winner of the guarded status change, so once. Flash-sale orders never counted (their sale's per-buyer limit
    bounds them)."""
    if order.flash_sale_id is None:
        units = sum(line.quantity for line in lines)
        await repository.return_unpaid(session, customer_id=order.customer_id, units=units, now=now)


# -- reading -------------------------------------------------------------------------------------------------------


async def get_order(session: AsyncSession, *, order_id: int, user: Principal) -> OrderRead:
    order = await readable_order(session, order_id, user)
    return to_read(order, await repository.get_lines(session, order_id), user.sub)


async def list_orders(
    session: AsyncSession, *, user: Principal, page: PageParams, filters: OrderFilters
) -> Page[OrderRead]:
    leader_id, customer_id = filters.leader_id, filters.customer_id
    staff = user.can(Permission.ORDERS_READ)
    if customer_id is not None and not staff and customer_id != user.sub:
        raise CustomerFilterForbidden()
    if not staff:
        if leader_id is not None:
            if not (user.has("leader") and leader_id == user.sub):
                raise LeaderFilterForbidden()
        else:
            customer_id = user.sub  # without a leader filter, a customer or leader lists their own purchases
    rows = await repository.list_orders(
        session,
        limit=page.limit + 1,
        after_id=page.after_int(),
        customer_id=customer_id,
        leader_id=leader_id,
        status=filters.status,
        pickup_date=filters.pickup_date,
        created_from=filters.created_from,
        created_to=filters.created_to,
    )
    shown = rows[: page.limit]
    by_order: dict[int, list[OrderLine]] = {}
    for line in await repository.get_lines_of(session, [_oid(o) for o in shown]):
        by_order.setdefault(line.order_id, []).append(line)
    return page.page(rows, key=lambda o: [o.id], convert=lambda o: to_read(o, by_order.get(_oid(o), []), user.sub))


async def order_log(session: AsyncSession, *, order_id: int, user: Principal) -> list[OrderLogEntry]:
    await readable_order(session, order_id, user)
    return [OrderLogEntry.model_validate(entry) for entry in await repository.get_log(session, order_id)]


# -- cancellation --------------------------------------------------------------------------------------------------


async def cancel_unpaid(
    session: AsyncSession, *, order_id: int, actor: str, reason: OrderCancelReason, inventory: Inventory, now: datetime
) -> bool:
    """Cancel if still unpaid. Only the caller whose guarded update wins returns stock and points (exactly once)."""
    order = await repository.get_order(session, order_id)
    assert order is not None, "orders are never deleted"
    if not await repository.change_status(
        session,
        order_id=order_id,
        expected=OrderStatus.PENDING_PAYMENT,
        values={"status": OrderStatus.CANCELLED, "cancelled_at": now, "cancel_reason": reason, "updated_at": now},
    ):
        return False
    lines = await repository.get_lines(session, order_id)
    # The customer's row before any product's (the order in which placing an order locks them).
    await return_unpaid_slot(session, order=order, lines=lines, now=now)
    await inventory_service.return_sku_units(
        session, units=[(line.sku_id, line.quantity) for line in lines if line.sku_id is not None], now=now
    )
    if order.group_buy_id is not None:
        await inventory_service.return_group_buy_quota(
            session,
            group_buy_id=order.group_buy_id,
            customer_id=order.customer_id,
            units=[(line.product_id, line.quantity) for line in lines],
            now=now,
        )
    await inventory.return_order_units(
        session,
        units=[(line.product_id, line.quantity) for line in lines if line.sku_id is None],
        customer_id=order.customer_id,
        sale_id=order.flash_sale_id,
        reservation=order.flash_reservation,
        now=now,
    )
    await repository.add_log(
        session,
        order_id=order_id,
        from_status=OrderStatus.PENDING_PAYMENT,
        to_status=OrderStatus.CANCELLED,
        actor=actor,
        note=reason,
    )
    # Held points come back through this event (the points service releases the hold when it applies it), so
    # they are returned only if the cancellation really committed.
    payload = OrderCancelled(
        order_id=order_id,
        customer_id=order.customer_id,
        leader_id=order.leader_id,
        points_used=order.points_used,
        cancelled_at=now,
        reason=reason,
    )
    await outbox.record(
        session, type=ORDER_CANCELLED, aggregate=_aggregate(order_id), data=payload.model_dump(mode="json")
    )
    return True


async def cancel_order(
    session: AsyncSession, *, order_id: int, user: Principal, inventory: Inventory, now: datetime
) -> OrderRead:
    order = await order_for_customer(session, order_id, user, staff=Permission.ORDERS_OPERATE)
    reason = OrderCancelReason.CUSTOMER if order.customer_id == user.sub else OrderCancelReason.OPS
    if not await cancel_unpaid(session, order_id=order_id, actor=user.sub, reason=reason, inventory=inventory, now=now):
        raise OrderNotCancellable(f"Order {order_id} is no longer waiting for payment")
    if reason == OrderCancelReason.OPS:
        await audit.record(
            session, outbox, actor=user, action="order.cancelled", target=("order", order_id),
            before={"status": OrderStatus.PENDING_PAYMENT}, after={"status": OrderStatus.CANCELLED}, at=now,
        )  # fmt: skip
    return await read_order(session, order_id, user.sub)


# -- payment -------------------------------------------------------------------------------------------------------


def new_pickup_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


async def mark_paid(session: AsyncSession, *, order: Order, transaction_id: str, now: datetime) -> bool:
    """pending_payment → paid, with a fresh pickup code and the `order.paid` event. False if it was not pending."""
    order_id = _oid(order)
    if not await repository.change_status(
        session,
        order_id=order_id,
        expected=OrderStatus.PENDING_PAYMENT,
        values={"status": OrderStatus.PAID, "paid_at": now, "pickup_code": new_pickup_code(), "updated_at": now},
    ):
        return False
    lines = await repository.get_lines(session, order_id)
    await return_unpaid_slot(session, order=order, lines=lines, now=now)
    await repository.add_log(
        session,
        order_id=order_id,
        from_status=OrderStatus.PENDING_PAYMENT,
        to_status=OrderStatus.PAID,
        actor="payment",
        note=transaction_id,
    )
    payload = OrderPaid(
        order_id=order_id,
        customer_id=order.customer_id,
        leader_id=order.leader_id,
        lines=[
            OrderLinePaid(
                line_id=line.id or 0,
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                amount_fen=line.amount_fen,
                points_discount_fen=line.points_discount_fen,
                paid_fen=line.paid_fen,
                points_used=line.points_used,
                product_name=line.product_name,
                sku_id=line.sku_id,
                cost_fen=line.cost_fen,
            )
            for line in lines
        ],
        goods_fen=order.goods_fen,
        points_used=order.points_used,
        points_discount_fen=order.points_discount_fen,
        paid_fen=order.payable_fen,
        paid_at=now,
        flash_sale_id=order.flash_sale_id,
    )
    await outbox.record(session, type=ORDER_PAID, aggregate=_aggregate(order_id), data=payload.model_dump(mode="json"))
    return True


# -- delivery and pickup -------------------------------------------------------------------------------------------


async def make_ready(session: AsyncSession, *, order_id: int, actor: str, note: str | None, now: datetime) -> bool:
    if not await repository.change_status(
        session,
        order_id=order_id,
        expected=OrderStatus.PAID,
        values={"status": OrderStatus.READY_FOR_PICKUP, "ready_at": now, "updated_at": now},
    ):
        return False
    await repository.add_log(
        session,
        order_id=order_id,
        from_status=OrderStatus.PAID,
        to_status=OrderStatus.READY_FOR_PICKUP,
        actor=actor,
        note=note,
    )
    return True


async def mark_arrived(
    session: AsyncSession, *, order_id: int, user: Principal, leaders: LeaderDirectory, now: datetime
) -> OrderRead:
    await order_for_leader(session, order_id, user, leaders)
    if not await make_ready(session, order_id=order_id, actor=user.sub, note="arrived", now=now):
        raise InvalidOrderState(f"Order {order_id} is not paid and waiting for delivery")
    return await read_order(session, order_id, user.sub)


async def pickup(
    session: AsyncSession,
    *,
    order_id: int,
    user: Principal,
    leaders: LeaderDirectory,
    code: str,
    max_attempts: int,
    lock_seconds: int,
    now: datetime,
) -> OrderRead:
    """Hand the goods over against the code. A wrong code raises `WrongPickupCode`, and the one that reaches
    `max_attempts` raises `PickupLocked`; both keep their writes (the attempt counter, the lock)."""
    # Locked so parallel guesses count one after another (PostgreSQL; SQLite writers are serialised anyway).
    order = await order_for_leader(session, order_id, user, leaders, for_update=True)
    if order.status != OrderStatus.READY_FOR_PICKUP:
        raise InvalidOrderState(f"Order {order_id} is {order.status}, not ready for pickup")
    if order.pickup_locked_until is not None and order.pickup_locked_until > now:
        raise PickupLocked(f"Pickup of order {order_id} is locked until {order.pickup_locked_until.isoformat()}")
    if order.pickup_code is None or not hmac.compare_digest(order.pickup_code, code):
        attempts = order.pickup_failed_attempts + 1
        if attempts >= max_attempts:
            locked_until = now + timedelta(seconds=lock_seconds)
            await repository.update_order(
                session, order_id=order_id, values={"pickup_failed_attempts": 0, "pickup_locked_until": locked_until}
            )
            raise PickupLocked(f"Too many wrong codes; locked until {locked_until.isoformat()}")
        await repository.update_order(session, order_id=order_id, values={"pickup_failed_attempts": attempts})
        raise WrongPickupCode(f"Wrong code; {max_attempts - attempts} tries left")
    if not await repository.change_status(
        session,
        order_id=order_id,
        expected=OrderStatus.READY_FOR_PICKUP,
        values={
            "status": OrderStatus.PICKED_UP,
            "picked_up_at": now,
            "updated_at": now,
            "pickup_failed_attempts": 0,
            "pickup_locked_until": None,
        },
    ):
        raise InvalidOrderState(f"Order {order_id} changed meanwhile")
    lines = await repository.get_lines(session, order_id)
    await repository.add_log(
        session,
        order_id=order_id,
        from_status=OrderStatus.READY_FOR_PICKUP,
        to_status=OrderStatus.PICKED_UP,
        actor=user.sub,
        note=None,
    )
    payload = OrderPickedUp(
        order_id=order_id,
        customer_id=order.customer_id,
        leader_id=order.leader_id,
        picked_up_at=now,
        lines=[
            OrderLineState(
                line_id=line.id or 0,
                product_id=line.product_id,
                quantity=line.quantity,
                refunded_quantity=line.refunded_quantity,
                paid_fen=line.paid_fen,
                refunded_fen=line.refunded_fen,
            )
            for line in lines
        ],
        paid_fen=order.payable_fen,
        refunded_fen=order.refunded_fen,
    )
    await outbox.record(
        session, type=ORDER_PICKED_UP, aggregate=_aggregate(order_id), data=payload.model_dump(mode="json")
    )
    return await read_order(session, order_id, user.sub)


# -- refunds -------------------------------------------------------------------------------------------------------


def _refund_read(refund: Refund, lines: Sequence[RefundLine]) -> RefundRead:
    assert refund.id is not None
    return RefundRead(
        id=refund.id,
        order_id=refund.order_id,
        lines=[RefundLineRead.model_validate(line) for line in lines],
        refund_fen=refund.refund_fen,
        points_returned=refund.points_returned,
        reason=refund.reason,
        requested_by=refund.requested_by,
        after_pickup=refund.after_pickup,
        restocked=refund.restocked,
        provider_status=refund.provider_status,
        created_at=refund.created_at,
    )


#: States in which units of an order can be refunded: paid, whether or not it has reached the pickup point yet.
REFUNDABLE = (OrderStatus.PAID, OrderStatus.READY_FOR_PICKUP, OrderStatus.PICKED_UP)


def goods_have_left(order: Order) -> bool:
    """The order's units have left the warehouse: it joined a delivery batch, or reached the pickup point."""
    return order.status != OrderStatus.PAID or order.delivery_batch_id is not None


def merge_units(lines: Sequence[RefundLineIn]) -> dict[int, int]:
    """Units asked for per line id (a line named twice asks for the sum)."""
    asked: dict[int, int] = {}
    for item in lines:
        asked[item.line_id] = asked.get(item.line_id, 0) + item.quantity
    return asked


async def refund_order(
    session: AsyncSession, *, order_id: int, user: Principal, data: RefundCreate, now: datetime
) -> RefundRead:
    """A refund without review: the customer's own while the goods are still in the warehouse, or a direct one by
    staff who decide refunds. Once the goods have left, a customer asks through an after-sale request instead."""
    order = await readable_order(session, order_id, user, for_update=True, staff=Permission.REFUNDS_DECIDE)
    staff = user.can(Permission.REFUNDS_DECIDE)
    if not staff and order.customer_id != user.sub:
        raise NotOrderOwner(f"Only the customer who placed order {order_id} may do this")
    if order.status not in REFUNDABLE:
        raise OrderNotRefundable(f"Order {order_id} is {order.status}")
    if not staff and goods_have_left(order):
        path = f"/api/v1/orders/{order_id}/after-sales"
        raise AfterSaleRequired(f"Order {order_id} has left the warehouse: ask for a refund at {path}", after_sale=path)
    # A staff refund says who and why in the order log (actor, note), the refund row and the audit trail.
    reason = f"direct refund by staff: {data.reason}" if staff else data.reason
    was_refunded = order.refunded_fen
    was = {"status": order.status, "refunded_fen": was_refunded}
    refund = await issue_refund(
        session, order=order, units=merge_units(data.lines), actor=user.sub, reason=reason, now=now
    )
    if staff:
        await audit.record(
            session, outbox, actor=user, action="order.refunded", target=("order", order_id), before=was,
            after={"refunded_fen": was_refunded + refund.refund_fen, "refund_id": refund.id,
                   "refund_fen": refund.refund_fen, "points_returned": refund.points_returned,
                   "lines": [line.model_dump() for line in refund.lines]},
            at=now,
        )  # fmt: skip
    return refund


async def issue_refund(
    session: AsyncSession,
    *,
    order: Order,
    units: Mapping[int, int],
    actor: str,
    reason: str,
    now: datetime,
    source_key: str | None = None,
    from_reserved: bool = False,
) -> RefundRead:
    """The one way money and spent points go back for units of an order's lines (a customer's own refund, staff's
    direct refund, an approved after-sale request, a shortage at receipt): refund rows for the provider's refund
    sender, the order's totals, the order log and the `order.refunded` event, from which leaders reverse commission
    and points gives points back. The caller holds the order row locked (`for_update`).

    Money and points come back per line in proportion to what was paid for it; see `allocation.cumulative_share`
    for the rounding (a line refunded in full returns exactly its paid amount). A `source_key` is refunded once: a
    second call with it changes nothing and returns the first refund. `from_reserved` takes the units out of the
    lines' after-sale reservations; otherwise only units nobody has asked for can be refunded."""
    order_id = _oid(order)
    if order.status not in REFUNDABLE:
        raise OrderNotRefundable(f"Order {order_id} is {order.status}")
    if source_key is not None and (done := await repository.get_refund_by_key(session, source_key)) is not None:
        return _refund_read(done, await repository.refund_lines_of(session, [done.id or 0]))
    lines = {line.id: line for line in await repository.get_lines(session, order_id)}
    refund_lines: list[RefundLine] = []
    events: list[OrderLineRefund] = []
    for line_id in sorted(units):
        line = lines.get(line_id)
        if line is None:
            raise OrderLineNotFound(f"Order {order_id} has no line {line_id}")
        quantity = units[line_id]
        if from_reserved:
            available = line.reserved_quantity
        else:
            available = line.quantity - line.refunded_quantity - line.reserved_quantity
        if quantity > available:
            raise RefundExceedsPurchase(
                f"Line {line_id}: {line.quantity} bought, {line.refunded_quantity} refunded, "
                f"{line.reserved_quantity} asked for in after-sale requests, {quantity} to refund now"
            )
        fen = cumulative_share(line.paid_fen, line.quantity, line.refunded_quantity, quantity)
        points = cumulative_share(line.points_used, line.quantity, line.refunded_quantity, quantity)
        refund_lines.append(
            RefundLine(refund_id=0, line_id=line_id, quantity=quantity, refund_fen=fen, points_returned=points)
        )
        events.append(
            OrderLineRefund(
                line_id=line_id,
                product_id=line.product_id,
                quantity=quantity,
                line_quantity=line.quantity,
                refund_fen=fen,
                points_returned=points,
            )
        )
    refund_fen = sum(r.refund_fen for r in refund_lines)
    points_returned = sum(r.points_returned for r in refund_lines)
    after_pickup = order.status == OrderStatus.PICKED_UP
    # Paid and not yet in a delivery batch: the units are still in the warehouse and go back on sale. The order
    # row is locked, so the cut-off cannot batch it meanwhile; products are updated in id order, like creation.
    restocked = not goods_have_left(order)
    refund = await repository.insert_refund(
        session,
        Refund(
            order_id=order_id,
            requested_by=actor,
            reason=reason[:200],
            refund_fen=refund_fen,
            points_returned=points_returned,
            after_pickup=after_pickup,
            restocked=restocked,
            provider_status=RefundProviderStatus.PENDING if refund_fen > 0 else RefundProviderStatus.NOT_NEEDED,
            source_key=source_key,
            created_at=now,
        ),
        refund_lines,
    )
    if refund is None:
        raise RefundExceedsPurchase(f"Refund {source_key} was made meanwhile; read the order and try again")
    assert refund.id is not None
    for item in refund_lines:
        line = lines[item.line_id]
        if not await repository.refund_line_units(
            session,
            line_id=item.line_id,
            already=line.refunded_quantity,
            quantity=item.quantity,
            refund_fen=item.refund_fen,
            points=item.points_returned,
            from_reserved=from_reserved,
        ):
            raise RefundExceedsPurchase(f"Line {item.line_id} was refunded meanwhile; read the order and try again")
    if restocked:
        # Products without SKUs keep their own stock; a SKU line returns its units to the SKU.
        stock = [(lines[i].product_id, quantity) for i, quantity in units.items() if lines[i].sku_id is None]
        await inventory_service.return_product_units(session, units=stock, now=now)
        sku_stock = [(lines[i].sku_id or 0, quantity) for i, quantity in units.items() if lines[i].sku_id is not None]
        await inventory_service.return_sku_units(session, units=sku_stock, now=now)
    refunded_now = {item.line_id: lines[item.line_id].refunded_quantity + item.quantity for item in refund_lines}
    fully = all(refunded_now.get(line.id or 0, line.refunded_quantity) == line.quantity for line in lines.values())
    await repository.add_refunded_to_order(session, order_id=order_id, refund_fen=refund_fen, fully=fully, now=now)
    await repository.add_log(
        session,
        order_id=order_id,
        from_status=order.status,
        to_status=order.status,
        actor=actor,
        note=f"refund {refund.id}: {refund_fen} fen; {reason}"[:200],
    )
    payload = OrderRefunded(
        order_id=order_id,
        refund_id=refund.id,
        customer_id=order.customer_id,
        leader_id=order.leader_id,
        lines=events,
        refund_fen=refund_fen,
        points_returned=points_returned,
        picked_up=after_pickup,
        refunded_at=now,
    )
    await outbox.record(
        session, type=ORDER_REFUNDED, aggregate=_aggregate(order_id), data=payload.model_dump(mode="json")
    )
    return _refund_read(refund, refund_lines)


async def list_refunds(session: AsyncSession, *, order_id: int, user: Principal) -> list[RefundRead]:
    await readable_order(session, order_id, user)
    refunds = await repository.list_refunds(session, order_id)
    by_refund: dict[int, list[RefundLine]] = {}
    for line in await repository.refund_lines_of(session, [r.id for r in refunds if r.id is not None]):
        by_refund.setdefault(line.refund_id, []).append(line)
    return [_refund_read(r, by_refund.get(r.id or 0, [])) for r in refunds]
