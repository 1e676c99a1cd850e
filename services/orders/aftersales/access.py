"""Who may read an after-sale request: its customer, the leader of its order's pickup point, and staff who review
after-sales or read orders. Anyone else is told it does not exist, so ids cannot be probed."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.permissions import Permission
from services.orders.aftersales import repository
from services.orders.aftersales.exceptions import AfterSaleNotFound
from services.orders.aftersales.models import AfterSaleRequest


def reads_every_request(user: Principal) -> bool:
    return user.can(Permission.AFTERSALES_REVIEW) or user.can(Permission.ORDERS_READ)


async def readable_request(session: AsyncSession, request_id: int, user: Principal) -> AfterSaleRequest:
    """The request, if the caller may read it; AFTER_SALE_NOT_FOUND otherwise."""
    request = await repository.get_request(session, request_id)
    if request is None or not (
        reads_every_request(user) or request.customer_id == user.sub or user.is_leader_of(request.leader_id)
    ):
        raise AfterSaleNotFound(f"After-sale request {request_id} does not exist")
    return request
