from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.common.app import NowDep
from services.common.auth import InvalidToken, MissingPermission, Principal, require_permission, signed_in
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.pagination import InvalidCursor, Page, PageDep
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.clients import LeadersUnavailable
from services.orders.delivery import jobs, service
from services.orders.delivery.exceptions import BatchAlreadyReceived, BatchNotFound
from services.orders.delivery.models import DeliveryBatchStatus
from services.orders.delivery.schemas import CutoffResult, DeliveryBatchRead, DeliveryBatchSummary
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
    summary="Run the delivery cut-off now (staff: orders.operate)",
    responses=problem_docs(InvalidToken, MissingPermission),
)
async def run_cutoff(db: DatabaseDep, user: DeliveryStaff, settings: SettingsDep, now: NowDep) -> CutoffResult:
    """Batches paid orders up to the latest daily cut-off; the same job runs on its own every minute."""
    return await jobs.run_cutoff(db, tz=settings.tz, cutoff=settings.cutoff_time, now=now)


@router.get(
    "",
    response_model=Page[DeliveryBatchSummary],
    summary="List delivery batches (a leader sees their own; staff with orders.operate all)",
    responses=problem_docs(InvalidToken, InvalidCursor, LeaderFilterForbidden),
)
async def list_batches(
    session: SessionDep,
    user: BatchUser,
    page: PageDep,
    leader_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: DeliveryBatchStatus | None = None,
) -> Page[DeliveryBatchSummary]:
    return await service.list_batches(session, user=user, page=page, leader_id=leader_id, status=status)


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
    summary="Confirm the batch reached the pickup point (its active leader; staff: orders.operate)",
    responses=problem_docs(
        InvalidToken, BatchNotFound, LeaderAccountSuspended, BatchAlreadyReceived, LeadersUnavailable
    ),
)
async def receive_batch(
    batch_id: BatchId, session: SessionDep, user: BatchUser, leaders: LeadersDep, now: NowDep
) -> DeliveryBatchRead:
    """The batch's paid orders become `ready_for_pickup`."""
    return await service.receive_batch(session, batch_id=batch_id, user=user, leaders=leaders, now=now)
