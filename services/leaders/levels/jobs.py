"""Level evaluation (晋升 / 优胜劣汰), run periodically and by ops on demand: every active leader moves to the level
their last `window_days` earn.

The figures are read once; each leader then moves in a transaction of their own with a guarded update, so several
processes may run this at once, re-running moves nobody twice, and a leader that fails is logged and skipped.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from fastapi import FastAPI

from services.common.db import Database
from services.leaders.config import Settings
from services.leaders.ladder import repository
from services.leaders.levels import service
from services.leaders.levels.schemas import EvaluationResult, LevelChangeRead
from services.leaders.profiles import repository as profiles_repository
from services.leaders.sales import repository as sales_repository

log = logging.getLogger("services.leaders.levels")

SYSTEM_ACTOR = "level-evaluation"


async def evaluate_levels(
    db: Database, *, window_days: int, now: datetime, changed_by: str = SYSTEM_ACTOR
) -> EvaluationResult:
    """Evaluate every active leader on the window of `window_days` ending at `now`."""
    start = now - timedelta(days=window_days)
    async with db.reading() as session:
        levels = list(await repository.list_levels(session))
        sales = await sales_repository.net_sales_by_leader(session, start=start, end=now)
        completed = await sales_repository.completed_orders_by_leader(session, start=start, end=now)
        leaders = [
            (leader.leader_id, leader.level) for leader in await profiles_repository.list_active_leaders(session)
        ]
    changes: list[LevelChangeRead] = []
    if levels:  # with no levels configured there is nothing to move anyone to or from
        for leader_id, current in leaders:
            try:
                async with db.transaction() as session:
                    change = await service.move_to_earned_level(
                        session,
                        leader_id=leader_id,
                        current=current,
                        levels=levels,
                        sales_fen=sales.get(leader_id, 0),
                        completed_orders=completed.get(leader_id, 0),
                        window_start=start,
                        window_end=now,
                        changed_by=changed_by,
                    )
            except Exception:
                log.exception("could not evaluate a leader's level", extra={"leader_id": leader_id})
                continue
            if change is not None:
                changes.append(change)
    promoted = sum(change.direction == "promoted" for change in changes)
    demoted = len(changes) - promoted
    if changes:
        log.info("level evaluation", extra={"promoted": promoted, "demoted": demoted})
    return EvaluationResult(
        evaluated=len(leaders), promoted=promoted, demoted=demoted, window_start=start, window_end=now, changes=changes
    )


async def level_evaluation_job(app: FastAPI) -> EvaluationResult:
    settings: Settings = app.state.settings
    return await evaluate_levels(app.state.db, window_days=settings.level_window_days, now=app.state.clock())
