"""Who may read and act on an order: each guard loads the order and checks the caller at once.

Reading: the order's customer, its leader (the pickup point) and ops; anyone else is told the order does not exist,
so ids cannot be probed. Acting: a caller who may read the order but not do this to it (a leader refunding a
customer's order, a customer handing over their own goods) gets 403 with a code saying why.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.permissions import Permission
from services.orders.orders import repository
from services.orders.orders.exceptions import NotOrderLeader, NotOrderOwner, OrderNotFound
from services.orders.orders.models import Order


async def readable_order(session: AsyncSession, order_id: int, user: Principal, *, for_update: bool = False) -> Order:
    """The order, if the caller may read it; ORDER_NOT_FOUND otherwise."""
    order = await repository.get_order(session, order_id, for_update=for_update)
    readers = user.is_ops or user.can(Permission.ORDERS_READ)
    if order is None or not (readers or order.customer_id == user.sub or user.is_leader_of(order.leader_id)):
        raise OrderNotFound(f"Order {order_id} does not exist")
    return order


async def order_for_customer(
    session: AsyncSession, order_id: int, user: Principal, *, for_update: bool = False
) -> Order:
    """An order the caller may act on as its buyer (cancel, refund): its customer, or ops."""
    order = await readable_order(session, order_id, user, for_update=for_update)
    if not (user.is_ops or order.customer_id == user.sub):
        raise NotOrderOwner(f"Only the customer who placed order {order_id} may do this")
    return order


async def order_for_leader(session: AsyncSession, order_id: int, user: Principal, *, for_update: bool = False) -> Order:
    """An order the caller may act on as its pickup point (arrival, handing over): its leader, or ops."""
    order = await readable_order(session, order_id, user, for_update=for_update)
    if not (user.is_ops or user.is_leader_of(order.leader_id)):
        raise NotOrderLeader(f"Only the leader of order {order_id}'s pickup point may do this")
    return order
