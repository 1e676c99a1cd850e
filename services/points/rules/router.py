from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.common.auth import (
    InvalidToken,
    MissingPermission,
    Principal,
    ServiceNotAllowed,
    require_permission,
    require_service,
)
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.permissions import Permission
from services.points.deps import NowDep
from services.points.rules import service
from services.points.rules.exceptions import RulesChangedConcurrently
from services.points.rules.schemas import DeductionRule, Rules, RulesRead

router = APIRouter(prefix="/api/v1/points/rules", tags=["points rules"])
internal_router = APIRouter(prefix="/internal/points/rules", tags=["internal"])


PointsStaff = Annotated[Principal, Depends(require_permission(Permission.POINTS_MANAGE))]
OrdersService = Annotated[Principal, Depends(require_service("orders"))]


@router.get(
    "",
    response_model=RulesRead,
    summary="The points rules in force (staff: points.manage)",
    responses=problem_docs(InvalidToken, MissingPermission),
)
async def get_rules(session: SessionDep, user: PointsStaff) -> RulesRead:
    return await service.current_rules(session)


@router.put(
    "",
    response_model=RulesRead,
    summary="Put new points rules in force (staff: points.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, RulesChangedConcurrently),
)
async def replace_rules(body: Rules, session: SessionDep, user: PointsStaff, now: NowDep) -> RulesRead:
    """Every change is a new version; points already granted keep what they were granted under."""
    return await service.replace_rules(session, rules=body, actor=user.sub, now=now)


@internal_router.get(
    "/deduction",
    response_model=DeductionRule,
    summary="The points deduction rate and cap (the orders service)",
    responses=problem_docs(InvalidToken, ServiceNotAllowed),
)
async def get_deduction_rule(session: SessionDep, user: OrdersService) -> DeductionRule:
    return service.deduction_rule(await service.current_rules(session))
