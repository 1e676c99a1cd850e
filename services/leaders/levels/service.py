"""Levels and rule-based promotion and demotion (晋升 / 优胜劣汰) on the last `window_days` of net sales (paid in
the window minus refunded in it, docs/metrics.md) and completed orders."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.common.auth import Principal
from services.common.pagination import Page, PageParams
from services.leaders.commission import repository as commission_repository
from services.leaders.commission import service as commission_service
from services.leaders.commission.models import CommissionRuleMode, CommissionRuleScope
from services.leaders.commission.schemas import RuleCreate
from services.leaders.db import outbox
from services.leaders.ladder import repository
from services.leaders.ladder.models import Level, LevelChange, LevelChangeDirection
from services.leaders.levels.exceptions import LevelRankTaken
from services.leaders.levels.schemas import (
    LeaderSummary,
    LevelChangeRead,
    LevelRead,
    LevelWrite,
    NextLevel,
)
from services.leaders.profiles import service as profiles_service
from services.leaders.profiles.access import ensure_reads_leader
from services.leaders.profiles.exceptions import ConcurrentLeaderChange
from services.leaders.sales import repository as sales_repository

log = logging.getLogger("services.leaders.levels")


async def put_level(session: AsyncSession, *, code: str, data: LevelWrite, changed_by: str, now: datetime) -> LevelRead:
    """Create or change a level. A new `rate_bp` becomes a level commission rule effective now, so commission
    already accrued keeps the rate it was computed with."""
    level = await repository.get_level(session, code)
    previous_rate = level.rate_bp if level is not None else None
    unchanged = {"updated_at"}  # every save moves it; the trail has its own time
    was = LevelRead.model_validate(level).model_dump(exclude=unchanged) if level is not None else None
    if level is None:
        level = Level(code=code, created_at=now, **data.model_dump())
    else:
        for field, value in data.model_dump().items():
            setattr(level, field, value)
    level.updated_at = now
    if not await repository.save_level(session, level):
        raise LevelRankTaken(f"Rank {data.rank} belongs to another level")
    if data.rate_bp is not None and data.rate_bp != previous_rate:
        await commission_service.create_rule(
            session,
            data=RuleCreate(
                scope=CommissionRuleScope.LEVEL, level=code, mode=CommissionRuleMode.PERCENTAGE, rate_bp=data.rate_bp
            ),
            created_by=changed_by,
            now=now,
        )
    saved = LevelRead.model_validate(level)
    now_is = saved.model_dump(exclude=unchanged)
    before, after = audit.changed(was, now_is) if was is not None else (None, now_is)
    await audit.record(
        session, outbox, actor=changed_by, action="level.created" if was is None else "level.updated",
        target=("level", code), before=before, after=after, at=now,
    )  # fmt: skip
    return saved


async def list_levels(session: AsyncSession) -> list[LevelRead]:
    return [LevelRead.model_validate(level) for level in await repository.list_levels(session)]


def qualified_level(levels: Sequence[Level], *, sales_fen: int, completed_orders: int) -> Level | None:
    """The best-ranked level whose thresholds are both met; None when not even the lowest is."""
    best: Level | None = None
    for level in levels:
        meets = sales_fen >= level.min_sales_fen and completed_orders >= level.min_completed_orders
        if meets and (best is None or level.rank > best.rank):
            best = level
    return best


async def move_to_earned_level(
    session: AsyncSession,
    *,
    leader_id: str,
    current: str | None,
    levels: Sequence[Level],
    sales_fen: int,
    completed_orders: int,
    window_start: datetime,
    window_end: datetime,
    changed_by: str,
) -> LevelChangeRead | None:
    """Move the leader from level `current` to the one their figures of the window earn. None when that is where
    they are, or when ops changed the leader meanwhile (their decision stands; the next evaluation looks again)."""
    target = qualified_level(levels, sales_fen=sales_fen, completed_orders=completed_orders)
    target_code = target.code if target is not None else None
    if target_code == current:
        return None
    rank = {level.code: level.rank for level in levels}
    going_up = target is not None and (current is None or target.rank > rank.get(current, -1))
    try:
        await profiles_service.set_leader_field(
            session,
            leader_id=leader_id,
            field="level",
            old=current,
            new=target_code,
            changed_by=changed_by,
            reason="level evaluation",
            now=window_end,
        )
    except ConcurrentLeaderChange:
        log.info("level evaluation skipped a leader changed meanwhile", extra={"leader_id": leader_id})
        return None
    change = await repository.insert_level_change(
        session,
        LevelChange(
            leader_id=leader_id,
            from_level=current,
            to_level=target_code,
            direction=LevelChangeDirection.PROMOTED if going_up else LevelChangeDirection.DEMOTED,
            window_start=window_start,
            window_end=window_end,
            changed_by=changed_by,
            at=window_end,
            sales_fen=sales_fen,
            completed_orders=completed_orders,
        ),
    )
    return LevelChangeRead.model_validate(change)


async def list_level_changes(
    session: AsyncSession, *, user: Principal, leader_id: str, page: PageParams
) -> Page[LevelChangeRead]:
    await ensure_reads_leader(session, user, leader_id)
    await profiles_service.require_leader(session, leader_id)
    rows = await repository.list_level_changes(session, leader_id, limit=page.limit + 1, after_id=page.after_int())
    return page.page(rows, key=lambda c: [c.id], convert=LevelChangeRead.model_validate)


def _progress_bp(value: int, target: int) -> int:
    return 10_000 if target <= 0 else min(10_000, value * 10_000 // target)


async def leader_summary(session: AsyncSession, *, leader_id: str, window_days: int, now: datetime) -> LeaderSummary:
    """Balances, the window's figures as level evaluation reads them, and how far the next level is."""
    leader = await profiles_service.require_leader(session, leader_id)
    account = await commission_repository.get_account(session, leader_id)
    start = now - timedelta(days=window_days)
    sales = (await sales_repository.sales_of(session, leader_id, start=start, end=now)).net_sales_fen
    completed = await sales_repository.completed_orders_by_leader(session, start=start, end=now, leader_id=leader_id)
    orders = completed.get(leader_id, 0)
    levels = await repository.list_levels(session)  # by rank, lowest first
    current_rank = next((level.rank for level in levels if level.code == leader.level), None)
    above = [level for level in levels if current_rank is None or level.rank > current_rank]
    target = above[0] if above else None
    return LeaderSummary(
        leader_id=leader_id,
        status=leader.status,
        level=leader.level,
        manager_id=leader.manager_id,
        pending_fen=account.pending_fen if account else 0,
        available_fen=account.available_fen if account else 0,
        window_days=window_days,
        window_sales_fen=sales,
        window_completed_orders=orders,
        next_level=NextLevel(
            code=target.code,
            name=target.name,
            min_sales_fen=target.min_sales_fen,
            min_completed_orders=target.min_completed_orders,
        )
        if target
        else None,
        progress_bp=min(_progress_bp(sales, target.min_sales_fen), _progress_bp(orders, target.min_completed_orders))
        if target
        else None,
    )
