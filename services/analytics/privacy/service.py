"""What the analytics read model holds about a person, and how it forgets them.

Export: the person's memberships and per-community figures, their orders and refunds as counted here, their daily
sign-ins and referrals, and the tags staff put on them.

Erasure (`user.erased`): a leader's name becomes "(erased)" and the tags on the person go (they are staff's notes
about them). The figures stay: they hold ids, dates and amounts, and the communities' numbers must still add up.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.models import (
    community_members,
    customer_tags,
    leaders,
    member_daily,
    memberships,
    orders,
    referrals,
    refunds,
    sign_ins,
)
from services.common.privacy import ERASED, PersonalTable, by_column


def personal_tables() -> list[PersonalTable]:
    return [
        by_column(leaders, "leader_id"),
        by_column(memberships, "customer_id"),
        by_column(community_members, "customer_id"),
        by_column(member_daily, "customer_id"),
        by_column(orders, "customer_id"),
        by_column(refunds, "customer_id"),
        by_column(sign_ins, "user_id"),
        by_column(referrals, "invitee_id", "inviter_id"),
        by_column(customer_tags, "customer_id"),
    ]


async def erase_person(conn: AsyncConnection, *, user_id: str) -> None:
    await conn.execute(
        update(leaders).where(leaders.c.leader_id == user_id, leaders.c.name.is_not(None)).values(name=ERASED)
    )
    await conn.execute(delete(customer_tags).where(customer_tags.c.customer_id == user_id))
