"""Next-day delivery to pickup points (次日达 + 门店自提).

At the daily cut-off (`ORDERS_DELIVERY_CUTOFF`, business time zone) the paid orders of each leader to be picked up
by the next day go into that leader's batch of that pickup date, with a pick list (units per product, net of
refunds); ops may also run the cut-off of a chosen pickup date at once (a group-buy's sale day).
When the goods reach the pickup point the leader confirms receipt and the batch's orders become ready for pickup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.pagination import Page, PageParams
from services.common.permissions import Permission
from services.orders.clients import LeaderDirectory
from services.orders.delivery import repository
from services.orders.delivery.access import batch_for_leader, readable_batch
from services.orders.delivery.exceptions import BatchAlreadyReceived
from services.orders.delivery.models import DeliveryBatch, DeliveryBatchStatus
from services.orders.delivery.schemas import DeliveryBatchRead, DeliveryBatchSummary, PickListItem, ShortageIn
from services.orders.delivery.shortages import batch_shortages, settle_shortages
from services.orders.orders import service as orders_service
from services.orders.orders.exceptions import LeaderFilterForbidden


def latest_cutoff(now: datetime, tz: ZoneInfo, cutoff: time) -> tuple[date, datetime]:
    """The most recent cut-off at or before `now`: its local date and its moment in UTC."""
    local_now = now.astimezone(tz)
    moment = datetime.combine(local_now.date(), cutoff, tzinfo=tz)
    if local_now < moment:
        moment = datetime.combine(local_now.date() - timedelta(days=1), cutoff, tzinfo=tz)
    return moment.date(), moment.astimezone(UTC)


async def batch_leader_orders(
    session: AsyncSession,
    *,
    leader_id: str,
    cutoff_date: date,
    pickup_date: date,
    paid_before: datetime | None,
) -> DeliveryBatchSummary | None:
    """Put the leader's paid orders to be picked up by `pickup_date` (paid before `paid_before`, when given) into
    their batch of that date, adding them to its pick list. None when nothing was added (no orders left, or the
    batch was already delivered); safe to repeat."""
    batch = await repository.get_or_create_batch(
        session, leader_id=leader_id, cutoff_date=cutoff_date, pickup_date=pickup_date
    )
    if batch.status != DeliveryBatchStatus.IN_TRANSIT:
        return None  # already delivered: late stragglers wait for the next pickup date's batch
    assert batch.id is not None
    order_ids = await repository.claim_orders(
        session, batch_id=batch.id, leader_id=leader_id, pickup_date=pickup_date, paid_before=paid_before
    )
    if not order_ids:
        return None
    for product_id, name, units in await repository.units_per_product(session, order_ids):
        if units > 0:
            await repository.add_to_pick_list(
                session, batch_id=batch.id, product_id=product_id, name=name, quantity=units
            )
    await repository.count_orders(session, batch_id=batch.id, added=len(order_ids))
    refreshed = await repository.get_batch(session, batch.id)
    assert refreshed is not None
    return DeliveryBatchSummary.model_validate(refreshed)


async def _read(session: AsyncSession, batch: DeliveryBatch) -> DeliveryBatchRead:
    assert batch.id is not None
    return DeliveryBatchRead(
        id=batch.id,
        leader_id=batch.leader_id,
        cutoff_date=batch.cutoff_date,
        pickup_date=batch.pickup_date,
        status=batch.status,
        order_count=batch.order_count,
        order_ids=await repository.batch_order_ids(session, batch.id),
        pick_list=[PickListItem.model_validate(i) for i in await repository.pick_list(session, batch.id)],
        created_at=batch.created_at,
        received_at=batch.received_at,
        received_by=batch.received_by,
        shortages=await batch_shortages(session, batch.id),
    )


async def get_batch(session: AsyncSession, *, batch_id: int, user: Principal) -> DeliveryBatchRead:
    return await _read(session, await readable_batch(session, batch_id, user))


async def batches_of_date(session: AsyncSession, *, pickup_date: date) -> list[DeliveryBatchSummary]:
    return [DeliveryBatchSummary.model_validate(b) for b in await repository.batches_of_date(session, pickup_date)]


async def list_batches(
    session: AsyncSession,
    *,
    user: Principal,
    page: PageParams,
    leader_id: str | None,
    status: DeliveryBatchStatus | None,
    pickup_date: date | None = None,
) -> Page[DeliveryBatchSummary]:
    if not user.can(Permission.ORDERS_OPERATE):
        if leader_id is not None and leader_id != user.sub:
            raise LeaderFilterForbidden()
        leader_id = user.sub
    rows = await repository.list_batches(
        session,
        limit=page.limit + 1,
        after_id=page.after_int(),
        leader_id=leader_id,
        status=status,
        pickup_date=pickup_date,
    )
    return page.page(rows, key=lambda b: [b.id], convert=DeliveryBatchSummary.model_validate)


async def receive_batch(
    session: AsyncSession,
    *,
    batch_id: int,
    user: Principal,
    leaders: LeaderDirectory,
    shortages: Sequence[ShortageIn] = (),
    tz: ZoneInfo,
    now: datetime,
) -> DeliveryBatchRead:
    """The leader confirms the goods arrived: units reported short are refunded (see `shortages`), then the batch's
    paid orders become ready for pickup."""
    batch = await batch_for_leader(session, batch_id, user, leaders)
    if not await repository.mark_received(session, batch_id=batch_id, by=user.sub, now=now):
        raise BatchAlreadyReceived()
    await settle_shortages(session, batch=batch, reported=shortages, actor=user.sub, tz=tz, now=now)
    for order_id in await repository.batch_order_ids(session, batch_id):
        # Guarded per order: an order already marked arrived on its own simply stays as it is.
        await orders_service.make_ready(session, order_id=order_id, actor=user.sub, note=f"batch {batch_id}", now=now)
    refreshed = await repository.get_batch(session, batch_id)
    assert refreshed is not None
    return await _read(session, refreshed)
