"""The leader-application guard: load it and check the caller in one call."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.leaders.profiles import repository
from services.leaders.profiles.exceptions import ApplicationNotFound
from services.leaders.profiles.models import LeaderApplication


async def readable_application(session: AsyncSession, application_id: int, user: Principal) -> LeaderApplication:
    """The application, if the caller made it or is ops; APPLICATION_NOT_FOUND otherwise (ids cannot be probed)."""
    application = await repository.get_application(session, application_id)
    if application is None or not (user.is_ops or application.applicant_id == user.sub):
        raise ApplicationNotFound(f"Application {application_id} does not exist")
    return application
