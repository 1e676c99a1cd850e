from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query

from services.common import audit
from services.common.app import NowDep
from services.common.auth import InvalidToken, MissingPermission, Principal, require_permission, signed_in
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.pagination import InvalidCursor, Page
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.clients import LeadersUnavailable
from services.orders.db import outbox
from services.orders.delivery import jobs, service, shortages
from services.orders.delivery.exceptions import (
    BatchAlreadyReceived,
    BatchNotFound,
    DuplicateShortage,
    ShortageExceedsDelivery,
    ShortageNotInBatch,
)
from services.orders.delivery.jobs import cutoff_summary
from services.orders.delivery.schemas import (
    BatchFilters,
    BatchReceipt,
    CutoffRequest,
    CutoffResult,
    DeliveryBatchRead,
    DeliveryBatchSummary,
    ShortageQuery,
    ShortageReport,
)
from services.orders.deps import DatabaseDep, LeadersDep, SettingsDep
from services.orders.orders.exceptions import LeaderAccountSuspended, LeaderFilterForbidden

router = APIRouter(prefix="/api/v1/delivery-batches", tags=["delivery"])

DeliveryStaff = Annotated[Principal, Depends(require_permission(Permission.ORDERS_OPERATE))]
#: A batch's leader, or staff with `orders.operate` (any batch).
BatchUser = Annotated[Principal, Depends(signed_in(Permission.ORDERS_OPERATE))]

BatchId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Delivery batch id")]


@router.post(
    "/cutoff",
    response_model=CutoffResult,
    summary="Run the delivery cut-off now, for the latest daily cut-off or a chosen pickup date "
    "(staff: orders.operate)",
    responses=problem_docs(InvalidToken, MissingPermission),
)
async def run_cutoff(
    db: DatabaseDep,
    user: DeliveryStaff,
    settings: SettingsDep,
    now: NowDep,
    body: Annotated[CutoffRequest | None, Body()] = None,
) -> CutoffResult:
    """Batches paid orders per leader and pickup date; the daily cut-off also runs on its own every minute. The
    answer lists every batch of the pickup date, also those made by earlier runs."""
    pickup_date = body.pickup_date if body is not None else None
    result = await jobs.run_cutoff(db, tz=settings.tz, cutoff=settings.cutoff_time, now=now, pickup_date=pickup_date)
    await audit.record_run(
        db, outbox, actor=user, action="delivery.cutoff_run", target=("pickup_date", result.pickup_date.isoformat()),
        result=cutoff_summary(result), at=now,
    )  # fmt: skip
    async with db.reading() as session:
        result.batches = await service.batches_of_date(session, pickup_date=result.pickup_date)
    return result


@router.get(
    "",
    response_model=Page[DeliveryBatchSummary],
    summary="List delivery batches (a leader sees their own; staff with orders.operate all)",
    responses=problem_docs(InvalidToken, InvalidCursor, LeaderFilterForbidden),
)
async def list_batches(
    session: SessionDep, user: BatchUser, filters: Annotated[BatchFilters, Query()]
) -> Page[DeliveryBatchSummary]:
    """`total` is null: batches grow by one per leader and day without bound."""
    return await service.list_batches(
        session,
        user=user,
        page=filters.page_params(),
        leader_id=filters.leader_id,
        status=filters.status,
        pickup_date=filters.pickup_date,
    )


@router.get(
    "/{batch_id}",
    response_model=DeliveryBatchRead,
    summary="Read a delivery batch with its pick list",
    responses=problem_docs(InvalidToken, BatchNotFound),
)
async def get_batch(batch_id: BatchId, session: SessionDep, user: BatchUser) -> DeliveryBatchRead:
    return await service.get_batch(session, batch_id=batch_id, user=user)


@router.post(
    "/{batch_id}/receive",
    response_model=DeliveryBatchRead,
    summary="Confirm the batch reached the pickup point, with what was missing or damaged (its active leader; "
    "staff: orders.operate)",
    responses=problem_docs(
        InvalidToken,
        BatchNotFound,
        LeaderAccountSuspended,
        BatchAlreadyReceived,
        LeadersUnavailable,
        DuplicateShortage,
        ShortageNotInBatch,
        ShortageExceedsDelivery,
    ),
)
async def receive_batch(
    batch_id: BatchId,
    session: SessionDep,
    user: BatchUser,
    leaders: LeadersDep,
    settings: SettingsDep,
    now: NowDep,
    body: Annotated[BatchReceipt | None, Body()] = None,
) -> DeliveryBatchRead:
    """Units reported in `shortages` are refunded at once from the batch's orders, in order of payment (see
    docs/api.md); the customers file nothing. Then the batch's paid orders become `ready_for_pickup`. No body, or
    no shortages: everything arrived."""
    reported = body.shortages if body is not None else []
    return await service.receive_batch(
        session, batch_id=batch_id, user=user, leaders=leaders, shortages=reported, tz=settings.tz, now=now
    )


shortages_router = APIRouter(prefix="/api/v1/shortages", tags=["delivery"])


@shortages_router.get(
    "",
    response_model=ShortageReport,
    summary="The day's shortages per batch and product, for the warehouse (staff: orders.operate)",
    responses=problem_docs(InvalidToken, MissingPermission, InvalidCursor),
)
async def shortage_report(
    query: Annotated[ShortageQuery, Query()],
    session: SessionDep,
    user: DeliveryStaff,
    settings: SettingsDep,
    now: NowDep,
) -> ShortageReport:
    """`date` is the local date of the receipts (default today); the batches are paged by id."""
    return await shortages.shortage_report(session, query=query, tz=settings.tz, now=now)
