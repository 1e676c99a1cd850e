"""Who may read and act on an order: each guard loads the order and checks the caller at once.

Reading: the order's customer, its leader (the pickup point) and staff with `orders.read`; anyone else is told the
order does not exist, so ids cannot be probed. Acting: a caller who may read the order but not do this to it (a
leader refunding a customer's order, a customer handing over their own goods) gets 403 with a code saying why.
Staff act in the customer's or the leader's place only with the permission the action names (`staff`).

A leader acts only while leaders says the account is active, asked at the moment of the action (never a cached
answer): a suspended leader's next action is refused even while their token still says `leader`.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.permissions import Permission
from services.orders.clients import LeaderDirectory
from services.orders.orders import repository
from services.orders.orders.exceptions import LeaderAccountSuspended, NotOrderLeader, NotOrderOwner, OrderNotFound
from services.orders.orders.models import Order


async def readable_order(
    session: AsyncSession,
    order_id: int,
    user: Principal,
    *,
    for_update: bool = False,
    staff: Permission = Permission.ORDERS_READ,
) -> Order:
    """The order, if the caller may read it; ORDER_NOT_FOUND otherwise."""
    order = await repository.get_order(session, order_id, for_update=for_update)
    if order is None or not (
        user.can(staff)
        or user.can(Permission.ORDERS_READ)
        or order.customer_id == user.sub
        or user.is_leader_of(order.leader_id)
    ):
        raise OrderNotFound(f"Order {order_id} does not exist")
    return order


async def order_for_customer(
    session: AsyncSession,
    order_id: int,
    user: Principal,
    *,
    for_update: bool = False,
    staff: Permission = Permission.REFUNDS_DECIDE,
) -> Order:
    """An order the caller may act on as its buyer (cancel, refund): its customer, or staff holding `staff`."""
    order = await readable_order(session, order_id, user, for_update=for_update, staff=staff)
    if not (user.can(staff) or order.customer_id == user.sub):
        raise NotOrderOwner(f"Only the customer who placed order {order_id} may do this")
    return order


async def order_for_leader(
    session: AsyncSession, order_id: int, user: Principal, leaders: LeaderDirectory, *, for_update: bool = False
) -> Order:
    """An order the caller may act on as its pickup point (arrival, handing over): its active leader, or staff
    with `orders.operate`."""
    staff = Permission.ORDERS_OPERATE
    order = await readable_order(session, order_id, user, for_update=for_update, staff=staff)
    if user.can(staff):
        return order
    if not user.is_leader_of(order.leader_id):
        raise NotOrderLeader(f"Only the leader of order {order_id}'s pickup point may do this")
    await ensure_active_leader(leaders, user.sub)
    return order


async def ensure_active_leader(leaders: LeaderDirectory, leader_id: str) -> None:
    """Refuse a leader action unless leaders says, now, that the leader is active."""
    leader = await leaders.get_leader(leader_id, fresh=True)
    if leader is None or not leader.is_active:
        raise LeaderAccountSuspended(f"Leader {leader_id} is not active")
