"""All SQL about after-sale requests, their lines and their decisions. Every status change names the status it
expects, so two people deciding the same request at once resolve to exactly one decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.aftersales.models import (
    AfterSaleDecision,
    AfterSaleLine,
    AfterSaleRequest,
    AfterSaleStatus,
)


async def insert_request(session: AsyncSession, request: AfterSaleRequest, lines: Sequence[AfterSaleLine]) -> int:
    session.add(request)
    await session.flush()
    assert request.id is not None
    for line in lines:
        line.request_id = request.id
    session.add_all(lines)
    await session.flush()
    return request.id


async def add_decision(session: AsyncSession, decision: AfterSaleDecision) -> None:
    session.add(decision)
    await session.flush()


async def get_request(session: AsyncSession, request_id: int) -> AfterSaleRequest | None:
    query = select(AfterSaleRequest).where(AfterSaleRequest.id == request_id).execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def lines_of(session: AsyncSession, request_ids: Sequence[int]) -> Sequence[AfterSaleLine]:
    if not request_ids:
        return []
    query = select(AfterSaleLine).where(col(AfterSaleLine.request_id).in_(request_ids)).order_by(col(AfterSaleLine.id))
    return (await session.exec(query)).all()


async def decisions_of(session: AsyncSession, request_ids: Sequence[int]) -> Sequence[AfterSaleDecision]:
    if not request_ids:
        return []
    query = (
        select(AfterSaleDecision)
        .where(col(AfterSaleDecision.request_id).in_(request_ids))
        .order_by(col(AfterSaleDecision.id))
    )
    return (await session.exec(query)).all()


async def change_status(
    session: AsyncSession, *, request_id: int, expected: AfterSaleStatus, values: dict[str, Any]
) -> bool:
    """Move a request on only if it is still in the expected state; False means somebody else moved it first."""
    result = await session.exec(
        update(AfterSaleRequest)
        .where(col(AfterSaleRequest.id) == request_id, col(AfterSaleRequest.status) == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def approved_since(session: AsyncSession, *, customer_id: str, since: datetime) -> int:
    """Fen of the customer's requests approved at or after `since` (refunded ones included)."""
    query = select(func.coalesce(func.sum(AfterSaleRequest.amount_fen), 0)).where(
        AfterSaleRequest.customer_id == customer_id, col(AfterSaleRequest.approved_at) >= since
    )
    return int((await session.exec(query)).one())


async def request_of_refund(session: AsyncSession, refund_id: int) -> AfterSaleRequest | None:
    query = select(AfterSaleRequest).where(AfterSaleRequest.refund_id == refund_id)
    return (await session.exec(query)).first()


async def list_requests(
    session: AsyncSession,
    *,
    limit: int,
    after_id: int | None,
    customer_id: str | None,
    leader_id: str | None,
    status: AfterSaleStatus | None,
    start: datetime | None,
    end: datetime | None,
) -> Sequence[AfterSaleRequest]:
    query = select(AfterSaleRequest).order_by(col(AfterSaleRequest.id).desc()).limit(limit)
    if after_id is not None:
        query = query.where(col(AfterSaleRequest.id) < after_id)
    if customer_id is not None:
        query = query.where(AfterSaleRequest.customer_id == customer_id)
    if leader_id is not None:
        query = query.where(AfterSaleRequest.leader_id == leader_id)
    if status is not None:
        query = query.where(AfterSaleRequest.status == status)
    if start is not None:
        query = query.where(col(AfterSaleRequest.created_at) >= start)
    if end is not None:
        query = query.where(col(AfterSaleRequest.created_at) < end)
    return (await session.exec(query)).all()
