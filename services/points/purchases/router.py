from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.common.auth import InvalidToken, Principal, ServiceNotAllowed, require_service
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.reconciliation import OrdersWithEffects, OrdersWithEffectsRequest
from services.points.purchases import service
from services.points.purchases.schemas import ReconciliationRead, ReconciliationRequest

router = APIRouter(prefix="/internal/reconciliation", tags=["internal"])

OrdersService = Annotated[Principal, Depends(require_service("orders"))]


@router.post(
    "/points",
    response_model=ReconciliationRead,
    summary="What points did for these orders: purchase credits, reversals, holds (the orders service)",
    responses=problem_docs(InvalidToken, ServiceNotAllowed),
)
async def reconcile_orders(body: ReconciliationRequest, session: SessionDep, user: OrdersService) -> ReconciliationRead:
    return await service.reconcile(session, order_ids=body.order_ids)


@router.post(
    "/points/orders",
    response_model=OrdersWithEffects,
    summary="The orders with purchase points or refunds recorded in a range, for reconciliation (the orders service)",
    responses=problem_docs(InvalidToken, ServiceNotAllowed),
)
async def orders_with_points(
    body: OrdersWithEffectsRequest, session: SessionDep, user: OrdersService
) -> OrdersWithEffects:
    """`[since, until)` of at most 31 days (422 otherwise); paged by order id: ask again with `after` set to
    `next_after` until it is null."""
    return await service.orders_with_effects(session, body)
