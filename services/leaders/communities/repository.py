"""All SQL about community membership and its history."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.leaders.communities.models import Membership, MembershipEvent


async def get_membership(session: AsyncSession, customer_id: str) -> Membership | None:
    query = select(Membership).where(Membership.customer_id == customer_id).execution_options(populate_existing=True)
    return (await session.exec(query)).one_or_none()


async def insert_membership(session: AsyncSession, membership: Membership) -> bool:
    """False when the customer is (concurrently) already in a community: one at a time, by the unique key."""
    return await insert_once(session, membership, conflict_columns=("customer_id",))


async def delete_membership(session: AsyncSession, membership: Membership) -> bool:
    """Remove exactly the membership that was read (same row, same leader), so a parallel switch is not undone."""
    result = await session.exec(
        delete(Membership)
        .where(col(Membership.id) == membership.id, col(Membership.leader_id) == membership.leader_id)
        .execution_options(synchronize_session=False)
    )
    # SQLite may hand the freed id to the next membership; the session must not think the old row still holds it.
    session.expunge(membership)
    return result.rowcount == 1


async def insert_event(session: AsyncSession, event: MembershipEvent) -> None:
    session.add(event)
    await session.flush()


async def list_members(
    session: AsyncSession, leader_id: str, *, limit: int, before_id: int | None
) -> Sequence[Membership]:
    query = select(Membership).where(Membership.leader_id == leader_id).order_by(col(Membership.id).desc()).limit(limit)
    if before_id is not None:
        query = query.where(col(Membership.id) < before_id)
    return (await session.exec(query)).all()


async def list_history(
    session: AsyncSession, leader_id: str, *, limit: int, before_id: int | None
) -> Sequence[MembershipEvent]:
    query = (
        select(MembershipEvent)
        .where(MembershipEvent.leader_id == leader_id)
        .order_by(col(MembershipEvent.id).desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(col(MembershipEvent.id) < before_id)
    return (await session.exec(query)).all()
