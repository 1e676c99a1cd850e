"""The leaders service's periodic work: settlement and level evaluation, each in its own transaction."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from services.common.db import Database
from services.leaders.commission import service as commission
from services.leaders.commission.schemas import SettlementResult
from services.leaders.config import Settings
from services.leaders.levels import service as levels
from services.leaders.levels.schemas import EvaluationResult

log = logging.getLogger("services.leaders.jobs")


async def run_settlement(app: FastAPI) -> SettlementResult:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    async with db.sessionmaker() as session, session.begin():
        result = await commission.settle_due(session, freeze_days=settings.commission_freeze_days, tz=settings.tz)
    if result.settled_accruals:
        log.info("settlement", extra={"accruals": result.settled_accruals, "fen": result.settled_fen})
    return result


async def run_level_evaluation(app: FastAPI) -> EvaluationResult:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    async with db.sessionmaker() as session, session.begin():
        result = await levels.evaluate_levels(session, window_days=settings.level_window_days)
    if result.changes:
        log.info("level evaluation", extra={"promoted": result.promoted, "demoted": result.demoted})
    return result
