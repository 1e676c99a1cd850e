"""All SQL about sign-ins."""

from __future__ import annotations

from datetime import date

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.points.signins.models import SignIn


async def get_sign_in(session: AsyncSession, *, user_id: str, day: date) -> SignIn | None:
    query = select(SignIn).where(SignIn.user_id == user_id, SignIn.local_date == day)
    return (await session.exec(query)).one_or_none()


async def insert_sign_in(session: AsyncSession, sign_in: SignIn) -> SignIn:
    session.add(sign_in)
    await session.flush()
    return sign_in
