from __future__ import annotations

from fastapi import APIRouter

from services.common.auth import InvalidToken, MissingRole, OpsUser, ServiceUser
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.points.deps import NowDep
from services.points.rules import service
from services.points.rules.exceptions import RulesChangedConcurrently
from services.points.rules.schemas import DeductionRule, Rules, RulesRead

router = APIRouter(prefix="/api/v1/points/rules", tags=["points rules"])
internal_router = APIRouter(prefix="/internal/points/rules", tags=["internal"])


@router.get(
    "",
    response_model=RulesRead,
    summary="The points rules in force (ops)",
    responses=problem_docs(InvalidToken, MissingRole),
)
async def get_rules(session: SessionDep, user: OpsUser) -> RulesRead:
    return await service.current_rules(session)


@router.put(
    "",
    response_model=RulesRead,
    summary="Put new points rules in force (ops)",
    responses=problem_docs(InvalidToken, MissingRole, RulesChangedConcurrently),
)
async def replace_rules(body: Rules, session: SessionDep, user: OpsUser, now: NowDep) -> RulesRead:
    """Every change is a new version; points already granted keep what they were granted under."""
    return await service.replace_rules(session, rules=body, actor=user.sub, now=now)


@internal_router.get(
    "/deduction",
    response_model=DeductionRule,
    summary="The points deduction rate and cap (service)",
    responses=problem_docs(InvalidToken, MissingRole),
)
async def get_deduction_rule(session: SessionDep, user: ServiceUser) -> DeductionRule:
    return service.deduction_rule(await service.current_rules(session))
