"""All SQL about sign-ins."""

from __future__ import annotations

from datetime import date

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.sql import insert_once
from services.points.signins.models import SignIn


async def get_sign_in(session: AsyncSession, *, user_id: str, day: date) -> SignIn | None:
    query = select(SignIn).where(SignIn.user_id == user_id, SignIn.local_date == day)
    return (await session.exec(query)).one_or_none()


async def insert_sign_in(session: AsyncSession, sign_in: SignIn) -> bool:
    """False when the user signed in on that local date already."""
    return await insert_once(session, sign_in, conflict_columns=("user_id", "local_date"))
