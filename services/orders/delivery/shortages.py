"""Shortages reported when a delivery batch reaches the pickup point, refunded without anyone asking.

The leader reports units missing or damaged per product. They are refunded at once from the batch's orders still
waiting for their goods, by one deterministic rule:

- products in ascending id; for each, missing units first, then damaged ones;
- the orders holding the product in order of payment (`paid_at`, then order id), each giving up the units of its
  line that nobody has refunded or asked for in an open after-sale request, until the shortage is covered;
- units held by open after-sale requests are left to those requests (staff decide them): a shortage row records
  how many units it reported and how many it refunded.

Each order gets one refund for all its units short in the batch, keyed `shortage:<batch>:<order>`, through the one
refund path (`orders.service.issue_refund`): the customer files nothing, commission and points are reversed from
the `order.refunded` event. Ops read the day's shortages per batch and product for the warehouse to follow up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.events.contract import DELIVERY_SHORTAGE_REPORTED, DeliveryShortageReported, ShortageItem
from services.common.pagination import encode_cursor
from services.orders.db import outbox
from services.orders.delivery import repository
from services.orders.delivery.exceptions import DuplicateShortage, ShortageExceedsDelivery, ShortageNotInBatch
from services.orders.delivery.models import DeliveryBatch, DeliveryShortage, DeliveryShortageRefund, ShortageKind
from services.orders.delivery.schemas import (
    BatchShortages,
    ShortageIn,
    ShortageQuery,
    ShortageRead,
    ShortageReport,
    ShortageTotal,
)
from services.orders.orders import repository as orders_repository
from services.orders.orders import service as orders_service
from services.orders.orders.allocation import cumulative_share
from services.orders.orders.models import Order, OrderLine

#: The order in which the kinds of one product are allocated.
KIND_ORDER = (ShortageKind.MISSING, ShortageKind.DAMAGED)


def _lid(line: OrderLine) -> int:
    assert line.id is not None
    return line.id


def _paid_order(order: Order) -> tuple[datetime, int]:
    assert order.id is not None
    # Every batched order is paid; the fallback only keeps the key total.
    return (order.paid_at or datetime.min.replace(tzinfo=UTC), order.id)


async def settle_shortages(
    session: AsyncSession,
    *,
    batch: DeliveryBatch,
    reported: Sequence[ShortageIn],
    actor: str,
    tz: ZoneInfo,
    now: datetime,
) -> None:
    """Record the shortages of a batch being received and refund them (the batch row is claimed by the caller)."""
    if not reported:
        return
    assert batch.id is not None
    asked: dict[tuple[int, ShortageKind], int] = {}
    for item in reported:
        if (item.product_id, item.kind) in asked:
            raise DuplicateShortage(f"Product {item.product_id} is reported {item.kind} twice")
        asked[(item.product_id, item.kind)] = item.quantity

    orders = await repository.lock_waiting_orders(session, batch.id)
    by_id = {order.id: order for order in orders}
    holders: dict[int, list[OrderLine]] = {}
    for line in await orders_repository.get_lines_of(session, [o.id for o in orders if o.id is not None]):
        holders.setdefault(line.product_id, []).append(line)
    for lines in holders.values():
        lines.sort(key=lambda line: _paid_order(by_id[line.order_id]))
    for product_id in sorted({product_id for product_id, _ in asked}):
        lines = holders.get(product_id, [])
        coming = sum(line.quantity - line.refunded_quantity for line in lines)
        if not coming:
            raise ShortageNotInBatch(f"Product {product_id} is not waiting for delivery in batch {batch.id}")
        short = sum(quantity for (product, _), quantity in asked.items() if product == product_id)
        if short > coming:
            raise ShortageExceedsDelivery(f"Product {product_id}: {short} units reported short, {coming} on the way")

    # The allocation, before any refund: snapshots of each line as it stands now.
    every_line = [line for lines in holders.values() for line in lines]
    free = {_lid(line): line.quantity - line.refunded_quantity - line.reserved_quantity for line in every_line}
    taken_so_far = {_lid(line): line.refunded_quantity for line in every_line}
    allocations: dict[tuple[int, ShortageKind], list[tuple[OrderLine, int, int]]] = {}
    per_order: dict[int, dict[int, int]] = {}
    for product_id in sorted({product_id for product_id, _ in asked}):
        for kind in KIND_ORDER:
            remaining = asked.get((product_id, kind), 0)
            if not remaining:
                continue
            chosen: list[tuple[OrderLine, int, int]] = []
            for line in holders[product_id]:
                line_id = _lid(line)
                take = min(free[line_id], remaining)
                if take <= 0:
                    continue
                # Cumulative shares add up: the pieces of one line sum to what its single refund returns.
                fen = cumulative_share(line.paid_fen, line.quantity, taken_so_far[line_id], take)
                free[line_id] -= take
                taken_so_far[line_id] += take
                remaining -= take
                chosen.append((line, take, fen))
                units = per_order.setdefault(line.order_id, {})
                units[line_id] = units.get(line_id, 0) + take
                if remaining == 0:
                    break
            allocations[(product_id, kind)] = chosen

    refund_ids: dict[int, int] = {}
    for order_id in sorted(per_order):  # ascending, the order the rows are locked in
        refund = await orders_service.issue_refund(
            session,
            order=by_id[order_id],
            units=per_order[order_id],
            actor=actor,
            reason=f"shortage at receipt of delivery batch {batch.id}",
            now=now,
            source_key=f"shortage:{batch.id}:{order_id}",
        )
        refund_ids[order_id] = refund.id

    reported_on = now.astimezone(tz).date()
    items: list[ShortageItem] = []
    for product_id, kind in sorted(asked, key=lambda key: (key[0], KIND_ORDER.index(key[1]))):
        chosen = allocations[(product_id, kind)]
        name = holders[product_id][0].product_name
        shortage = DeliveryShortage(
            batch_id=batch.id,
            leader_id=batch.leader_id,
            reported_on=reported_on,
            product_id=product_id,
            product_name=name,
            kind=kind,
            quantity=asked[(product_id, kind)],
            refunded_quantity=sum(q for _, q, _ in chosen),
            refund_fen=sum(fen for _, _, fen in chosen),
            reported_by=actor,
            created_at=now,
        )
        await repository.add_shortage(
            session,
            shortage,
            [
                DeliveryShortageRefund(
                    shortage_id=0,
                    order_id=line.order_id,
                    line_id=_lid(line),
                    quantity=quantity,
                    refund_fen=fen,
                    refund_id=refund_ids[line.order_id],
                )
                for line, quantity, fen in chosen
            ],
        )
        items.append(
            ShortageItem(
                product_id=product_id,
                kind=kind,
                quantity=shortage.quantity,
                refunded_quantity=shortage.refunded_quantity,
                refund_fen=shortage.refund_fen,
            )
        )
    payload = DeliveryShortageReported(
        batch_id=batch.id,
        leader_id=batch.leader_id,
        cutoff_date=batch.cutoff_date.isoformat(),
        reported_by=actor,
        items=items,
        reported_at=now,
    )
    await outbox.record(
        session,
        type=DELIVERY_SHORTAGE_REPORTED,
        aggregate=f"delivery_batch:{batch.id}",
        data=payload.model_dump(mode="json"),
    )


async def batch_shortages(session: AsyncSession, batch_id: int) -> list[ShortageRead]:
    return [ShortageRead.model_validate(s) for s in await repository.shortages_of_batches(session, [batch_id])]


async def shortage_report(
    session: AsyncSession, *, query: ShortageQuery, tz: ZoneInfo, now: datetime
) -> ShortageReport:
    """The day's shortages: totals per product and kind, and one page of the batches short that day."""
    day: date = query.date or now.astimezone(tz).date()
    page = query.page_params()
    batches = await repository.batches_short_on(
        session, day=day, leader_id=query.leader_id, after_id=page.after_int(), limit=page.limit + 1
    )
    shown = batches[: page.limit]
    items: dict[int, list[ShortageRead]] = {}
    for shortage in await repository.shortages_of_batches(session, [b.id for b in shown if b.id is not None]):
        if shortage.reported_on == day:
            items.setdefault(shortage.batch_id, []).append(ShortageRead.model_validate(shortage))
    totals = await repository.shortage_totals_on(session, day=day, leader_id=query.leader_id)
    return ShortageReport(
        date=day,
        products=[
            ShortageTotal(
                product_id=product_id,
                product_name=name,
                kind=ShortageKind(kind),
                quantity=quantity,
                refunded_quantity=refunded,
                refund_fen=fen,
            )
            for product_id, name, kind, quantity, refunded, fen in totals
        ],
        batches=[
            BatchShortages(
                batch_id=b.id or 0,
                leader_id=b.leader_id,
                cutoff_date=b.cutoff_date,
                received_at=b.received_at,
                received_by=b.received_by,
                items=items.get(b.id or 0, []),
            )
            for b in shown
        ],
        next_cursor=encode_cursor([shown[-1].id]) if len(batches) > page.limit and shown else None,
    )
