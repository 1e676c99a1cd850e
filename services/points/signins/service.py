"""Daily sign-in: one per user per business day, points by the day of the streak; a missed day restarts it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import local_date
from services.common.events.contract import POINTS_SIGNED_IN, SignedIn
from services.points.db import outbox
from services.points.ledger import service as ledger
from services.points.ledger.models import PointsEntryKind
from services.points.ledger.service import LedgerInconsistent
from services.points.rules.service import current_rules, lot_expiry, signin_award
from services.points.signins import repository
from services.points.signins.exceptions import AlreadySignedIn
from services.points.signins.models import SignIn
from services.points.signins.schemas import SignInRead


async def sign_in(session: AsyncSession, *, user_id: str, now: datetime, tz: ZoneInfo) -> SignInRead:
    today = local_date(now, tz)
    yesterday = await repository.get_sign_in(session, user_id=user_id, day=today - timedelta(days=1))
    streak = yesterday.streak + 1 if yesterday is not None else 1
    rules = await current_rules(session)
    awarded = signin_award(streak, rules)
    row = SignIn(
        user_id=user_id, local_date=today, streak=streak, awarded=awarded, rules_version=rules.version, created_at=now
    )
    if not await repository.insert_sign_in(session, row):
        raise AlreadySignedIn(f"Already signed in on {today.isoformat()}")
    entry = await ledger.credit(
        session,
        user_id=user_id,
        kind=PointsEntryKind.SIGNIN,
        ref=today.isoformat(),
        points=awarded,
        expires_on=lot_expiry(today, rules),
        now=now,
        details={"streak": streak, "rules_version": rules.version},
    )
    if entry is None:
        raise LedgerInconsistent(f"sign-in of {user_id} on {today} was credited twice")
    # When members are active (analytics' activity by hour of day).
    await outbox.record(
        session,
        type=POINTS_SIGNED_IN,
        aggregate=f"user:{user_id}",
        data=SignedIn(user_id=user_id, at=now, streak=streak).model_dump(mode="json"),
    )
    return SignInRead(date=today, streak=streak, awarded=awarded)
