"""Who may read and act on an order or a delivery batch: each guard loads the object and checks the caller at once.

Reading: an order's customer, its leader (the pickup point) and ops; a batch's leader and ops. Anyone else is told
the object does not exist, so ids cannot be probed. Acting: a caller who may read the object but not do this to it
(a leader refunding a customer's order, a customer handing over their own goods) gets 403 with a code saying why.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal, Role
from services.orders.delivery import repository as delivery_repository
from services.orders.delivery.exceptions import BatchNotFound
from services.orders.delivery.models import DeliveryBatch
from services.orders.orders import repository as orders_repository
from services.orders.orders.exceptions import NotOrderLeader, NotOrderOwner, OrderNotFound
from services.orders.orders.models import Order


def _is_leader_of(user: Principal, leader_id: str) -> bool:
    return user.has(Role.LEADER) and user.sub == leader_id


async def readable_order(session: AsyncSession, order_id: int, user: Principal, *, for_update: bool = False) -> Order:
    """The order, if the caller may read it; ORDER_NOT_FOUND otherwise."""
    order = await orders_repository.get_order(session, order_id, for_update=for_update)
    if order is None or not (user.is_ops or order.customer_id == user.sub or _is_leader_of(user, order.leader_id)):
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
    if not (user.is_ops or _is_leader_of(user, order.leader_id)):
        raise NotOrderLeader(f"Only the leader of order {order_id}'s pickup point may do this")
    return order


async def readable_batch(session: AsyncSession, batch_id: int, user: Principal) -> DeliveryBatch:
    """The delivery batch, if the caller is its leader or ops; BATCH_NOT_FOUND otherwise. Whoever may read a batch
    may also confirm its receipt."""
    batch = await delivery_repository.get_batch(session, batch_id)
    if batch is None or not (user.is_ops or _is_leader_of(user, batch.leader_id)):
        raise BatchNotFound(f"Delivery batch {batch_id} does not exist")
    return batch
