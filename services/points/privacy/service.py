"""What the points service holds about a person, and how it forgets them.

Export: the person's account, ledger entries, lots, holds, sign-ins, invite code, referrals (as inviter or
invitee), task rewards and purchase awards. Points know people only by id; erasure (`user.erased`) blanks the free
text staff wrote on the person's manual adjustments. Every amount stays: each balance still equals the sum of its
entries.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.privacy import ERASED, PersonalTable, by_column, forget_idempotent_responses, through
from services.points.db import metadata
from services.points.holds.models import Hold, HoldLot
from services.points.ledger.models import Account, Entry, Lot
from services.points.purchases.models import PurchaseAward, RefundApplied
from services.points.referrals.models import InviteCode, InviterDailyRewards, Referral, TaskReward
from services.points.signins.models import SignIn


def personal_tables() -> list[PersonalTable]:
    return [
        by_column(Account, "user_id"),
        by_column(Entry, "user_id"),
        by_column(Lot, "user_id"),
        by_column(Hold, "user_id"),
        through(HoldLot, "order_id", Hold, "user_id", parent_key="order_id"),
        by_column(SignIn, "user_id"),
        by_column(InviteCode, "user_id"),
        by_column(Referral, "inviter_id", "invitee_id"),
        by_column(InviterDailyRewards, "inviter_id"),
        by_column(TaskReward, "user_id"),
        by_column(PurchaseAward, "user_id"),
        by_column(RefundApplied, "user_id"),
    ]


async def erase_person(session: AsyncSession, *, user_id: str) -> None:
    """Blank what staff wrote about the person on manual adjustments; keep every amount."""
    await session.exec(
        update(Entry)
        .where(col(Entry.user_id) == user_id, col(Entry.actor).is_not(None), col(Entry.reason).is_not(None))
        .values(reason=ERASED)
    )
    await forget_idempotent_responses(session, metadata, user_id)
