"""How each event changes the read model (docs/metrics.md defines the figures).

Every function records its fact once by the fact's business key and adds to the roll-ups only when that record is
new, so an event delivered twice, or the same fact published twice under two event ids, counts once. Figures never
depend on the order in which different aggregates' events arrive: an order is credited to the leader and person
it names whether or not their join was seen yet, and joins and orders touch different columns of a person's row.
Within one transaction the rows are touched in one order (the fact, the person's row, the leader's row, the
leader's day and month, the platform's day, products by id), so two events applied in parallel on PostgreSQL never
wait for each other in a cycle.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.ingest import repository
from services.analytics.models import (
    leader_daily,
    leader_monthly,
    leader_product_daily,
    member_daily,
    platform_daily,
    product_daily,
)
from services.common.clock import as_utc
from services.common.events.contract import (
    FlashSaleCreated,
    LeaderStatusChanged,
    LeaderUpdated,
    MemberChanged,
    OrderCancelled,
    OrderPaid,
    OrderPickedUp,
    OrderPlaced,
    OrderRefunded,
    ReferralBound,
    SignedIn,
)


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    return as_utc(moment).astimezone(tz)


def month_of(day: date) -> date:
    return day.replace(day=1)


async def _add_day(
    conn: AsyncConnection, *, leader_id: str, day: date, amounts: dict[str, int], monthly: dict[str, int]
) -> None:
    """The same additive figures on the leader's day, the leader's month and the platform's day."""
    await repository.add_to(conn, leader_daily, {"leader_id": leader_id, "day": day}, amounts)
    if monthly:
        await repository.add_to(conn, leader_monthly, {"leader_id": leader_id, "month": month_of(day)}, monthly)
    await repository.add_to(conn, platform_daily, {"day": day}, amounts)


# -- membership -----------------------------------------------------------------------------------------------------


async def member_joined(conn: AsyncConnection, change: MemberChanged, tz: ZoneInfo) -> bool:
    day = _local(change.at, tz).date()
    await repository.ensure_leader(conn, change.leader_id)
    # A join while the membership is open (its leave never published) changes nothing: the person is counted once.
    if await repository.has_open_membership(conn, leader_id=change.leader_id, customer_id=change.customer_id):
        return False
    if not await repository.open_membership(
        conn, leader_id=change.leader_id, customer_id=change.customer_id, at=change.at, day=day
    ):
        return False
    await repository.mark_joined(conn, leader_id=change.leader_id, customer_id=change.customer_id, day=day)
    await repository.add_members_now(conn, change.leader_id, 1)
    await _add_day(conn, leader_id=change.leader_id, day=day, amounts={"joins": 1}, monthly={"joins": 1})
    return True


async def member_left(conn: AsyncConnection, change: MemberChanged, tz: ZoneInfo) -> bool:
    day = _local(change.at, tz).date()
    await repository.ensure_leader(conn, change.leader_id)
    if not await repository.close_membership(
        conn, leader_id=change.leader_id, customer_id=change.customer_id, at=change.at, day=day
    ):
        return False  # no open membership known: its join was never published, so there is nobody to remove
    await repository.mark_left(conn, leader_id=change.leader_id, customer_id=change.customer_id, day=day)
    await repository.add_members_now(conn, change.leader_id, -1)
    await _add_day(conn, leader_id=change.leader_id, day=day, amounts={"leaves": 1}, monthly={"leaves": 1})
    return True


# -- leaders --------------------------------------------------------------------------------------------------------


async def leader_updated(conn: AsyncConnection, state: LeaderUpdated) -> None:
    values = {"status": state.status, "level": state.level, "manager_id": state.manager_id}
    if state.name is not None:
        values["name"] = state.name
    await repository.set_leader_state(conn, state.leader_id, values, state.at)


async def leader_status_changed(conn: AsyncConnection, change: LeaderStatusChanged) -> None:
    await repository.set_leader_state(conn, change.leader_id, {"status": change.status}, change.at)


# -- orders ---------------------------------------------------------------------------------------------------------


async def order_placed(conn: AsyncConnection, placed: OrderPlaced) -> None:
    await repository.record_order_placed(
        conn,
        {
            "order_id": placed.order_id,
            "leader_id": placed.leader_id,
            "customer_id": placed.customer_id,
            "flash_sale_id": placed.flash_sale_id,
            "units": sum(line.quantity for line in placed.lines),
            "placed_at": placed.placed_at,
        },
    )
    await repository.ensure_leader(conn, placed.leader_id)
    await repository.name_products(conn, {ln.product_id: ln.product_name for ln in placed.lines if ln.product_name})


async def order_paid(conn: AsyncConnection, paid: OrderPaid, tz: ZoneInfo) -> bool:
    moment = _local(paid.paid_at, tz)
    day = moment.date()
    units = sum(line.quantity for line in paid.lines)
    recorded = await repository.record_order_paid(
        conn,
        {
            "order_id": paid.order_id,
            "leader_id": paid.leader_id,
            "customer_id": paid.customer_id,
            "flash_sale_id": paid.flash_sale_id,
            "units": units,
            "paid_at": paid.paid_at,
            "paid_on": day,
            "paid_hour": moment.hour,
            "paid_fen": paid.paid_fen,
        },
    )
    if not recorded:
        return False
    # Only a new fact can name a leader analytics has not seen (every fact's handler does this once).
    await repository.ensure_leader(conn, paid.leader_id)
    await repository.add_member_sales(
        conn,
        leader_id=paid.leader_id,
        customer_id=paid.customer_id,
        orders_added=1,
        gmv_fen=paid.paid_fen,
        refunds_fen=0,
        order_day=day,
    )
    await repository.add_to(
        conn,
        member_daily,
        {"leader_id": paid.leader_id, "day": day, "customer_id": paid.customer_id},
        {"orders": 1, "gmv_fen": paid.paid_fen},
    )
    await _add_day(
        conn,
        leader_id=paid.leader_id,
        day=day,
        amounts={"orders": 1, "gmv_fen": paid.paid_fen, "units": units, "points_used": paid.points_used},
        monthly={"orders": 1, "gmv_fen": paid.paid_fen, "net_sales_fen": paid.paid_fen},
    )
    by_product: dict[int, dict[str, int]] = defaultdict(lambda: {"lines": 0, "units": 0, "gmv_fen": 0})
    for line in paid.lines:
        figures = by_product[line.product_id]
        figures["lines"] += 1
        figures["units"] += line.quantity
        figures["gmv_fen"] += line.paid_fen
    await _add_products(conn, leader_id=paid.leader_id, day=day, by_product=by_product)
    await repository.name_products(conn, {ln.product_id: ln.product_name for ln in paid.lines if ln.product_name})
    return True


async def _add_products(
    conn: AsyncConnection, *, leader_id: str, day: date, by_product: dict[int, dict[str, int]]
) -> None:
    for product_id in sorted(by_product):
        amounts = by_product[product_id]
        await repository.add_to(
            conn, leader_product_daily, {"leader_id": leader_id, "day": day, "product_id": product_id}, amounts
        )
    for product_id in sorted(by_product):
        await repository.add_to(conn, product_daily, {"day": day, "product_id": product_id}, by_product[product_id])


async def order_refunded(conn: AsyncConnection, refund: OrderRefunded, tz: ZoneInfo) -> bool:
    """A refund counts on the day it is made, from its own payload (it needs nothing else about the order)."""
    day = _local(refund.refunded_at, tz).date()
    recorded = await repository.record_refund(
        conn,
        {
            "refund_id": refund.refund_id,
            "order_id": refund.order_id,
            "leader_id": refund.leader_id,
            "customer_id": refund.customer_id,
            "refunded_at": refund.refunded_at,
            "refunded_on": day,
            "refund_fen": refund.refund_fen,
        },
    )
    if not recorded:
        return False
    await repository.ensure_leader(conn, refund.leader_id)
    fen = refund.refund_fen
    await repository.add_member_sales(
        conn,
        leader_id=refund.leader_id,
        customer_id=refund.customer_id,
        orders_added=0,
        gmv_fen=0,
        refunds_fen=fen,
        order_day=None,
    )
    await repository.add_to(
        conn,
        member_daily,
        {"leader_id": refund.leader_id, "day": day, "customer_id": refund.customer_id},
        {"refunds_fen": fen},
    )
    await _add_day(
        conn,
        leader_id=refund.leader_id,
        day=day,
        amounts={"refunds_fen": fen, "refund_count": 1},
        monthly={"refunds_fen": fen, "net_sales_fen": -fen},
    )
    by_product: dict[int, dict[str, int]] = defaultdict(lambda: {"refunded_units": 0, "refunds_fen": 0})
    for line in refund.lines:
        by_product[line.product_id]["refunded_units"] += line.quantity
        by_product[line.product_id]["refunds_fen"] += line.refund_fen
    await _add_products(conn, leader_id=refund.leader_id, day=day, by_product=by_product)
    return True


async def order_picked_up(conn: AsyncConnection, picked: OrderPickedUp, tz: ZoneInfo) -> bool:
    day = _local(picked.picked_up_at, tz).date()
    values = {
        "order_id": picked.order_id,
        "leader_id": picked.leader_id,
        "customer_id": picked.customer_id,
        "picked_up_at": picked.picked_up_at,
    }
    if not await repository.record_order_moment(conn, column="picked_up_at", values=values):
        return False
    await repository.ensure_leader(conn, picked.leader_id)
    await _add_day(conn, leader_id=picked.leader_id, day=day, amounts={"picked_up": 1}, monthly={})
    return True


async def order_cancelled(conn: AsyncConnection, cancelled: OrderCancelled) -> bool:
    """Only unpaid orders are cancelled; the cancellation matters to flash-sale conversion, not to sales."""
    values = {
        "order_id": cancelled.order_id,
        "leader_id": cancelled.leader_id,
        "customer_id": cancelled.customer_id,
        "cancelled_at": cancelled.cancelled_at,
    }
    if not await repository.record_order_moment(conn, column="cancelled_at", values=values):
        return False
    await repository.ensure_leader(conn, cancelled.leader_id)
    return True


# -- flash sales, sign-ins, referrals ------------------------------------------------------------------------------


async def flash_sale_created(conn: AsyncConnection, sale: FlashSaleCreated, tz: ZoneInfo) -> bool:
    if sale.product_name:
        await repository.name_products(conn, {sale.product_id: sale.product_name})
    return await repository.record_flash_sale(
        conn,
        {
            "flash_sale_id": sale.flash_sale_id,
            "product_id": sale.product_id,
            "product_name": sale.product_name,
            "price_fen": sale.price_fen,
            "stock": sale.stock,
            "per_user_limit": sale.per_user_limit,
            "starts_at": sale.starts_at,
            "starts_on": _local(sale.starts_at, tz).date(),
            "ends_at": sale.ends_at,
        },
    )


async def signed_in(conn: AsyncConnection, sign_in: SignedIn, tz: ZoneInfo) -> bool:
    moment = _local(sign_in.at, tz)
    return await repository.record_sign_in(conn, user_id=sign_in.user_id, day=moment.date(), hour=moment.hour)


async def referral_bound(conn: AsyncConnection, referral: ReferralBound, tz: ZoneInfo) -> bool:
    return await repository.record_referral(
        conn, invitee_id=referral.invitee_id, inviter_id=referral.inviter_id, day=_local(referral.at, tz).date()
    )
