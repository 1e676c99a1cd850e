"""Who may read and act on a delivery batch: its leader and staff with `orders.operate` (the guards load and check
in one call)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.permissions import Permission
from services.orders.clients import LeaderDirectory
from services.orders.delivery import repository
from services.orders.delivery.exceptions import BatchNotFound
from services.orders.delivery.models import DeliveryBatch
from services.orders.orders.access import ensure_active_leader


async def readable_batch(session: AsyncSession, batch_id: int, user: Principal) -> DeliveryBatch:
    """The delivery batch, if the caller is its leader or staff with `orders.operate`; BATCH_NOT_FOUND otherwise
    (ids cannot be probed)."""
    batch = await repository.get_batch(session, batch_id)
    if batch is None or not (user.can(Permission.ORDERS_OPERATE) or user.is_leader_of(batch.leader_id)):
        raise BatchNotFound(f"Delivery batch {batch_id} does not exist")
    return batch


async def batch_for_leader(
    session: AsyncSession, batch_id: int, user: Principal, leaders: LeaderDirectory
) -> DeliveryBatch:
    """A batch the caller may confirm: its leader while leaders says the account is active, or staff."""
    batch = await readable_batch(session, batch_id, user)
    if not user.can(Permission.ORDERS_OPERATE):
        await ensure_active_leader(leaders, user.sub)
    return batch
