"""Who may read and act on a delivery batch: its leader and ops (the guard loads and checks in one call)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.orders.delivery import repository
from services.orders.delivery.exceptions import BatchNotFound
from services.orders.delivery.models import DeliveryBatch


async def readable_batch(session: AsyncSession, batch_id: int, user: Principal) -> DeliveryBatch:
    """The delivery batch, if the caller is its leader or ops; BATCH_NOT_FOUND otherwise (ids cannot be probed).
    Whoever may read a batch may also confirm its receipt."""
    batch = await repository.get_batch(session, batch_id)
    if batch is None or not (user.is_ops or user.is_leader_of(batch.leader_id)):
        raise BatchNotFound(f"Delivery batch {batch_id} does not exist")
    return batch
