from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.common import audit
from services.common.app import NowDep
from services.common.auth import InvalidToken, MissingPermission, MissingRole, Principal, require_service
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.pagination import InvalidCursor, NoParams, Page, PageQuery
from services.leaders.access import NotYourLeaderAccount
from services.leaders.db import outbox
from services.leaders.deps import DatabaseDep, LeaderAdmin, LeaderDataReader, LeaderIdPath, LeaderReader, SettingsDep
from services.leaders.levels import jobs, service
from services.leaders.levels.exceptions import LevelRankTaken
from services.leaders.levels.schemas import EvaluationResult, LeaderSummary, LevelChangeRead, LevelRead, LevelWrite
from services.leaders.profiles.exceptions import LeaderNotFound

router = APIRouter(tags=["levels"])
internal_router = APIRouter(prefix="/internal/leaders", tags=["internal"])

AnalyticsService = Annotated[Principal, Depends(require_service("analytics"))]

LevelCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Level code, e.g. `gold`")]


@router.put(
    "/api/v1/commission/levels/{code}",
    response_model=LevelRead,
    summary="Create or change a level: thresholds on the last 30 days and its commission rate (staff: leaders.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, LevelRankTaken),
)
async def put_level(
    code: LevelCode, body: LevelWrite, session: SessionDep, user: LeaderAdmin, now: NowDep
) -> LevelRead:
    return await service.put_level(session, code=code, data=body, changed_by=user.sub, now=now)


@router.get(
    "/api/v1/commission/levels",
    response_model=list[LevelRead],
    summary="Every level, lowest rank first (staff: leaders.read)",
    responses=problem_docs(InvalidToken, MissingPermission),
)
async def list_levels(session: SessionDep, user: LeaderReader, _: NoParams) -> list[LevelRead]:
    return await service.list_levels(session)


@router.post(
    "/api/v1/commission/level-evaluations",
    response_model=EvaluationResult,
    summary="Evaluate levels now: promote and demote leaders on their last 30 days (staff: leaders.manage)",
    responses=problem_docs(InvalidToken, MissingPermission),
)
async def evaluate_levels(db: DatabaseDep, user: LeaderAdmin, settings: SettingsDep, now: NowDep) -> EvaluationResult:
    """The same evaluation the periodic job runs; running it twice moves nobody twice."""
    result = await jobs.evaluate_levels(db, window_days=settings.level_window_days, now=now, changed_by=user.sub)
    await audit.record_run(
        db, outbox, actor=user, action="level.evaluated", target=("level_evaluation", now.isoformat()),
        result=result.model_dump(exclude={"changes"}), at=now,
    )  # fmt: skip
    return result


@router.get(
    "/api/v1/leaders/{leader_id}/level-changes",
    response_model=Page[LevelChangeRead],
    summary="The leader's level moves with the figures behind them, newest first (that leader; staff: leaders.read)",
    responses=problem_docs(InvalidToken, NotYourLeaderAccount, LeaderNotFound, InvalidCursor),
)
async def list_level_changes(
    leader_id: LeaderIdPath, session: SessionDep, user: LeaderDataReader, page: PageQuery
) -> Page[LevelChangeRead]:
    return await service.list_level_changes(session, user=user, leader_id=leader_id, page=page)


@internal_router.get(
    "/{leader_id}/summary",
    response_model=LeaderSummary,
    summary="A leader's commission balances and progress to the next level, for the analytics dashboard (service)",
    responses=problem_docs(InvalidToken, MissingRole, LeaderNotFound),
)
async def get_leader_summary(
    leader_id: LeaderIdPath, session: SessionDep, user: AnalyticsService, settings: SettingsDep, now: NowDep
) -> LeaderSummary:
    return await service.leader_summary(session, leader_id=leader_id, window_days=settings.level_window_days, now=now)
