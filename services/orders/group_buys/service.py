"""Group-buy rules (团购活动): catalogue staff open sale days; customers see those of their community's region.

A customer's region is the region of the leader (pickup point) they name: orders does not keep memberships, and the
leader's region comes from the leader directory orders already asks when an order is placed. An order in a
group-buy must name a leader in one of its regions (`services.orders.orders.pricing`).

At the close (`jobs.close_group_buys`), for every product with a minimum per community (成团), each community whose
orders hold fewer units has those units cancelled (unpaid orders) or refunded (paid ones), once: the decision per
(group-buy, product, community) is a unique row written in the same transaction as the refunds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.common.auth import Principal
from services.common.pagination import Page, PageParams
from services.orders.clients import LeaderDirectory
from services.orders.db import outbox
from services.orders.group_buys import repository
from services.orders.group_buys.exceptions import GroupBuyNotFound, InvalidGroupBuy, LeaderOrRegionRequired
from services.orders.group_buys.schemas import (
    GroupBuyCreate,
    GroupBuyFilters,
    GroupBuyItemRead,
    GroupBuyOutcomeRead,
    GroupBuyRead,
    GroupBuyState,
)
from services.orders.inventory import service as inventory_service
from services.orders.orders import repository as orders_repository
from services.orders.orders import service as orders_service
from services.orders.orders.exceptions import UnknownLeader
from services.orders.orders.models import OrderCancelReason, OrderStatus
from services.orders.orders.pricing import serves
from services.orders.products.group_buy_models import GroupBuy, GroupBuyItem, GroupBuyOutcome
from services.orders.products.models import ProductStatus
from services.orders.products.repository import regions_serving
from services.orders.products.service import is_catalogue_staff

#: Who the order log names for the cancellations and refunds of the close.
CLOSER = "group-buy-close"


def state_of(group_buy: GroupBuy, now: datetime) -> GroupBuyState:
    if group_buy.closed_at is not None:
        return GroupBuyState.CLOSED
    if now < group_buy.starts_at:
        return GroupBuyState.SCHEDULED
    if now < group_buy.ends_at:
        return GroupBuyState.OPEN
    return GroupBuyState.ENDED


async def _reads(session: AsyncSession, rows: Sequence[GroupBuy], now: datetime) -> list[GroupBuyRead]:
    ids = [r.id for r in rows if r.id is not None]
    regions = await repository.regions_of(session, ids)
    items: dict[int, list[GroupBuyItemRead]] = {}
    for item, product_name, sku_name in await repository.items_of(session, ids):
        items.setdefault(item.group_buy_id, []).append(
            GroupBuyItemRead(
                id=item.id or 0,
                product_id=item.product_id,
                product_name=product_name,
                sku_id=item.sku_id,
                sku_name=sku_name,
                price_fen=item.price_fen,
                per_customer_limit=item.per_customer_limit,
                min_per_community=item.min_per_community,
            )
        )
    return [
        GroupBuyRead(
            id=row.id or 0,
            title=row.title,
            state=state_of(row, now),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            pickup_date=row.pickup_date,
            pickup_starts=row.pickup_starts,
            pickup_ends=row.pickup_ends,
            regions=regions.get(row.id or 0, []),
            items=items.get(row.id or 0, []),
            created_by=row.created_by,
            created_at=row.created_at,
            closed_at=row.closed_at,
        )
        for row in rows
    ]


async def create_group_buy(
    session: AsyncSession, *, data: GroupBuyCreate, by: str, tz: ZoneInfo, now: datetime
) -> GroupBuyRead:
    if data.pickup_date < data.ends_at.astimezone(tz).date():
        raise InvalidGroupBuy("pickup_date is before ordering ends")
    product_ids = sorted({i.product_id for i in data.items})
    products = {p.id: p for p in await orders_repository.products_by_id(session, product_ids)}
    skus = {s.id: s for s in await orders_repository.skus_of_products(session, product_ids)}
    for item in data.items:
        product = products.get(item.product_id)
        if product is None or product.status == ProductStatus.ARCHIVED:
            raise InvalidGroupBuy(f"Product {item.product_id} does not exist or is archived")
        if item.sku_id is not None and (item.sku_id not in skus or skus[item.sku_id].product_id != item.product_id):
            raise InvalidGroupBuy(f"Product {item.product_id} has no SKU {item.sku_id}")
    group_buy = await repository.insert_group_buy(
        session,
        GroupBuy(
            title=data.title,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            pickup_date=data.pickup_date,
            pickup_starts=data.pickup_starts,
            pickup_ends=data.pickup_ends,
            created_by=by,
            created_at=now,
        ),
        data.regions,
        [GroupBuyItem(group_buy_id=0, **item.model_dump()) for item in data.items],
    )
    assert group_buy.id is not None
    await audit.record(
        session, outbox, actor=by, action="group_buy.created", target=("group_buy", group_buy.id), before=None,
        after=data.model_dump(include={"starts_at", "ends_at", "pickup_date", "regions", "items"}), at=now,
    )  # fmt: skip
    return (await _reads(session, [group_buy], now))[0]


async def _region_of(leaders: LeaderDirectory, leader_id: str) -> str | None:
    leader = await leaders.get_leader(leader_id)
    if leader is None:
        raise UnknownLeader(f"No leader {leader_id!r}")
    return leader.region


async def list_group_buys(
    session: AsyncSession,
    *,
    user: Principal,
    filters: GroupBuyFilters,
    page: PageParams,
    leaders: LeaderDirectory,
    now: datetime,
) -> Page[GroupBuyRead]:
    staff = is_catalogue_staff(user)
    region = filters.region
    if filters.leader_id is not None:
        region = await _region_of(leaders, filters.leader_id)
        if region is None:
            return Page[GroupBuyRead](items=[], total=0)  # a pickup point without a region is served by none
    if region is None and not staff:
        raise LeaderOrRegionRequired()
    regions = None if region is None else regions_serving(region)
    ends_after = None if staff else now
    rows = await repository.list_group_buys(
        session,
        limit=page.limit + 1,
        after_id=page.after_int(),
        regions=regions,
        pickup_date=filters.pickup_date,
        ends_after=ends_after,
    )
    if staff and filters.state is not None:
        rows = [r for r in rows if state_of(r, now) == filters.state]
    total = None
    if filters.state is None:
        total = await repository.count_group_buys(
            session, regions=regions, pickup_date=filters.pickup_date, ends_after=ends_after
        )
    reads = {r.id: r for r in await _reads(session, rows[: page.limit], now)}
    return page.page(rows, key=lambda r: [r.id], convert=lambda r: reads[r.id or 0], total=total)


async def get_group_buy(
    session: AsyncSession,
    *,
    group_buy_id: int,
    user: Principal,
    leader_id: str | None,
    leaders: LeaderDirectory,
    now: datetime,
) -> GroupBuyRead:
    """Staff read any group-buy; others one serving the region of the leader they name (404 otherwise)."""
    group_buy = await repository.get_group_buy(session, group_buy_id)
    if group_buy is None:
        raise GroupBuyNotFound(f"Group-buy {group_buy_id} does not exist")
    read = (await _reads(session, [group_buy], now))[0]
    if not is_catalogue_staff(user):
        region = None if leader_id is None else await _region_of(leaders, leader_id)
        if not serves(read.regions, region):
            raise GroupBuyNotFound(f"Group-buy {group_buy_id} does not exist")
    return read


async def list_outcomes(session: AsyncSession, *, group_buy_id: int) -> list[GroupBuyOutcomeRead]:
    if await repository.get_group_buy(session, group_buy_id) is None:
        raise GroupBuyNotFound(f"Group-buy {group_buy_id} does not exist")
    return [GroupBuyOutcomeRead.model_validate(o) for o in await repository.outcomes(session, group_buy_id)]


# -- the close -----------------------------------------------------------------------------------------------------


async def settle_community(
    session: AsyncSession,
    *,
    group_buy_id: int,
    product_id: int,
    leader_id: str,
    minimum: int,
    inventory: inventory_service.Inventory,
    after_sale_days: int,
    now: datetime,
) -> GroupBuyOutcome | None:
    """Decide one community's product at the close: below the minimum, its unpaid orders of the product are
    cancelled and its paid units of the product refunded. None if it was decided before (nothing is done twice)."""
    lines = await repository.community_lines(
        session, group_buy_id=group_buy_id, product_id=product_id, leader_id=leader_id
    )
    quantity = sum(q for _, _, _, q in lines)
    outcome = GroupBuyOutcome(
        group_buy_id=group_buy_id,
        product_id=product_id,
        leader_id=leader_id,
        quantity=quantity,
        minimum=minimum,
        reached=quantity >= minimum,
        decided_at=now,
    )
    if not await repository.record_outcome(session, outcome):
        return None
    if outcome.reached:
        return outcome
    by_order: dict[int, list[tuple[OrderStatus, int, int]]] = {}
    for order_id, status, line_id, units in lines:
        by_order.setdefault(order_id, []).append((status, line_id, units))
    affected = 0
    for order_id, order_lines in sorted(by_order.items()):
        status = order_lines[0][0]
        if status == OrderStatus.PENDING_PAYMENT:
            if await orders_service.cancel_unpaid(
                session,
                order_id=order_id,
                actor=CLOSER,
                reason=OrderCancelReason.OPS,
                inventory=inventory,
                now=now,
            ):
                affected += 1
            continue
        refundable = {line_id: units for _, line_id, units in order_lines if units > 0}
        if not refundable:
            continue
        order = await orders_repository.get_order(session, order_id, for_update=True)
        assert order is not None, "orders are never deleted"
        await orders_service.issue_refund(
            session,
            order=order,
            units=refundable,
            actor=CLOSER,
            reason=f"group-buy {group_buy_id}: community below minimum",
            now=now,
            # Once per community, product and order, whatever runs the close again.
            source_key=f"group_buy:{group_buy_id}:{product_id}:{order_id}",
        )
        affected += 1
    assert outcome.id is not None
    await repository.note_affected(session, outcome_id=outcome.id, orders=affected)
    outcome.orders_affected = affected
    return outcome
