from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.common.auth import InvalidToken, Principal, ServiceNotAllowed, require_service
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.types import INT64_MAX, AwareDatetime
from services.points.deps import NowDep, SettingsDep
from services.points.holds import service
from services.points.holds.exceptions import (
    HoldAlreadyCommitted,
    HoldConflict,
    HoldNotFound,
    PointsNotUsable,
    PointsOverCap,
)
from services.points.holds.schemas import HoldCreate, HoldList, HoldRead
from services.points.ledger.exceptions import InsufficientPoints

router = APIRouter(prefix="/internal/points/holds", tags=["internal"])

OrdersService = Annotated[Principal, Depends(require_service("orders"))]

OrderId = Annotated[int, Path(ge=1, le=INT64_MAX, description="The order the points are held for")]


@router.post(
    "",
    response_model=HoldRead,
    summary="Hold points for a new order (the orders service)",
    responses=problem_docs(
        InvalidToken, ServiceNotAllowed, InsufficientPoints, HoldConflict, PointsOverCap, PointsNotUsable
    ),
)
async def place_hold(
    body: HoldCreate, session: SessionDep, user: OrdersService, now: NowDep, settings: SettingsDep
) -> HoldRead:
    """Idempotent by order id: the same request returns the same hold; another body for the order is 409."""
    return await service.place_hold(
        session,
        order_id=body.order_id,
        user_id=body.user_id,
        points=body.points,
        goods_fen=body.goods_fen,
        now=now,
        tz=settings.tz,
        ttl_seconds=settings.hold_ttl_seconds,
    )


@router.get(
    "",
    response_model=HoldList,
    summary="Holds still waiting, made before a given time (the orders service)",
    responses=problem_docs(InvalidToken, ServiceNotAllowed),
)
async def list_waiting_holds(
    session: SessionDep,
    user: OrdersService,
    created_before: Annotated[AwareDatetime, Query(description="Only holds made before this instant")],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> HoldList:
    """Oldest first; the orders service releases those whose order does not exist."""
    return await service.holds_waiting_since(session, created_before=created_before, limit=limit)


@router.get(
    "/{order_id}",
    response_model=HoldRead,
    summary="Read an order's points hold (the orders service)",
    responses=problem_docs(InvalidToken, ServiceNotAllowed, HoldNotFound),
)
async def get_hold(order_id: OrderId, session: SessionDep, user: OrdersService) -> HoldRead:
    return await service.get_hold(session, order_id=order_id)


@router.post(
    "/{order_id}/release",
    response_model=HoldRead,
    summary="Release an order's held points (the orders service)",
    responses=problem_docs(InvalidToken, ServiceNotAllowed, HoldNotFound, HoldAlreadyCommitted),
)
async def release_hold(order_id: OrderId, session: SessionDep, user: OrdersService, now: NowDep) -> HoldRead:
    """Idempotent: releasing again returns the released hold. 404 if the order never held points."""
    hold = await service.release_hold(session, order_id=order_id, now=now, reason="released by the orders service")
    if hold is None:
        raise HoldNotFound(f"Order {order_id} holds no points")
    return hold
