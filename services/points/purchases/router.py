from __future__ import annotations

from fastapi import APIRouter

from services.common.auth import InvalidToken, MissingRole, ServiceUser
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.points.purchases import service
from services.points.purchases.schemas import ReconciliationRead, ReconciliationRequest

router = APIRouter(prefix="/internal/reconciliation", tags=["internal"])


@router.post(
    "/points",
    response_model=ReconciliationRead,
    summary="What points did for these orders: purchase credits, reversals, holds (service)",
    responses=problem_docs(InvalidToken, MissingRole),
)
async def reconcile_orders(body: ReconciliationRequest, session: SessionDep, user: ServiceUser) -> ReconciliationRead:
    return await service.reconcile(session, order_ids=body.order_ids)
