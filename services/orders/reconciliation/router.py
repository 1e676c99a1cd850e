from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.common.auth import InvalidToken, MissingPermission, Principal, require_permission
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.permissions import Permission
from services.orders.clients import LeadersTimeout, LeadersUnavailable, PointsTimeout, PointsUnavailable
from services.orders.reconciliation import service
from services.orders.reconciliation.schemas import OrderEffectsReport, OrderEffectsRequest

router = APIRouter(prefix="/api/v1/reconciliation", tags=["reconciliation"])


EventsStaff = Annotated[Principal, Depends(require_permission(Permission.EVENTS_OPERATE))]


@router.post(
    "",
    response_model=OrderEffectsReport,
    response_model_by_alias=True,
    summary="Check that every order event had exactly its effects in leaders and points (staff: events.operate)",
    responses=problem_docs(
        InvalidToken, MissingPermission, LeadersUnavailable, LeadersTimeout, PointsUnavailable, PointsTimeout
    ),
)
async def reconcile_orders(
    body: OrderEffectsRequest, request: Request, session: SessionDep, user: EventsStaff
) -> OrderEffectsReport:
    """For orders paid or cancelled in `[from, to)`: one accrual per paid line, one reversal per refunded line,
    purchase points per picked-up order and their reversals, held points committed or released. Also walks the
    consumers' books: the orders they credited in the range are checked too, and an effect whose order does not
    exist or does not justify it is `orphaned`. Reports every difference with the ids involved; events still in the
    outbox are reported as `in_flight`, not lost."""
    return await service.reconcile(
        session,
        since=body.since,
        until=body.until,
        effects=request.app.state.effects,
        receiving=request.app.state.receiving,
    )
