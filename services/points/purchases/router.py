from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.common.auth import InvalidToken, Principal, ServiceNotAllowed, require_service
from services.common.db import SessionDep
from services.common.errors import problem_docs
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
