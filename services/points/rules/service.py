"""The rules in force, their versions, and the arithmetic every other module takes from them."""

from __future__ import annotations

import calendar
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.points.db import outbox
from services.points.rules import repository
from services.points.rules.exceptions import RulesChangedConcurrently
from services.points.rules.models import RuleVersion
from services.points.rules.schemas import DeductionRule, Rules, RulesRead


async def current_rules(session: AsyncSession) -> RulesRead:
    row = await repository.latest(session)
    if row is None:
        return RulesRead(**Rules().model_dump(), version=0, created_by=None, created_at=None)
    return RulesRead(**row.rules, version=row.version, created_by=row.created_by, created_at=row.created_at)


async def replace_rules(session: AsyncSession, *, rules: Rules, actor: str, now: datetime) -> RulesRead:
    """Put a new version in force; earlier grants keep the values they were made with."""
    previous = await repository.latest(session)
    version = 1 if previous is None else previous.version + 1
    row = RuleVersion(version=version, rules=rules.model_dump(mode="json"), created_by=actor, created_at=now)
    if not await repository.insert(session, row):
        raise RulesChangedConcurrently()
    # Until ops first change them, the defaults are in force (version 0): that is what the first change replaces.
    was = (
        {"version": 0, **Rules().model_dump(mode="json")}
        if previous is None
        else {"version": previous.version, **previous.rules}
    )
    before, after = audit.changed(was, {"version": row.version, **row.rules})
    await audit.record(
        session, outbox, actor=actor, action="points_rules.replaced", target=("points_rules", version),
        before=before, after=after, at=now,
    )  # fmt: skip
    return RulesRead(**row.rules, version=row.version, created_by=row.created_by, created_at=row.created_at)


def deduction_rule(rules: Rules) -> DeductionRule:
    return DeductionRule(points_per_yuan=rules.deduction_points_per_yuan, max_ratio_bp=rules.deduction_max_ratio_bp)


def lot_expiry(earned_on: date, rules: Rules) -> date:
    """Points earned on `earned_on` expire after the last day of the month `expiry_months` later."""
    months = earned_on.year * 12 + (earned_on.month - 1) + rules.expiry_months
    year, month = divmod(months, 12)
    return date(year, month + 1, calendar.monthrange(year, month + 1)[1])


def signin_award(streak: int, rules: Rules) -> int:
    schedule = rules.signin_schedule
    return schedule[(streak - 1) % len(schedule)]


def purchase_points(paid_fen: int, rules: Rules) -> int:
    """Points for money actually paid, rounded down to whole points."""
    return max(paid_fen, 0) * rules.purchase_points_per_yuan // 100
