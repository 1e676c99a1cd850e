"""A person's rights over their data: a complete export, and erasure.

Erasure anonymises: the user id stays (orders, commission and points entries keep pointing at it, money records
stay intact), everything that identifies the person goes, and `user.erased` tells every other service to do the
same with what it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.db import outbox
from services.accounts.privacy.schemas import PersonalDataExport
from services.accounts.privacy.sources import ExportSource
from services.accounts.sessions import repository as sessions_repository
from services.accounts.users import repository as users_repository
from services.accounts.users.exceptions import UserNotFound
from services.accounts.users.service import require_user, user_read
from services.common.errors import DomainError
from services.common.events.contract import USER_ERASED, UserErased

SERVICE = "accounts"


async def _own_data(session: AsyncSession, user_id: str) -> dict[str, Any]:
    user = await require_user(session, user_id)
    identities = await users_repository.list_identities(session, user_id)
    leader = await users_repository.get_leader_role(session, user_id)
    sessions = await sessions_repository.list_subject_sessions(session, user_id)
    return {
        "profile": user_read(user, full_phone=True).model_dump(mode="json"),
        "wechat_identities": [
            {"appid": i.appid, "openid": i.openid, "unionid": i.unionid, "linked_at": i.created_at.isoformat()}
            for i in identities
        ],
        "leader_status": None if leader is None else {"status": leader.status, "since": leader.changed_at.isoformat()},
        "sessions": [
            {
                "id": s.id,
                "signed_in_at": s.created_at.isoformat(),
                "ended_at": s.revoked_at.isoformat() if s.revoked_at else None,
                "end_reason": s.revoked_reason,
            }
            for s in sessions
        ],
    }


async def export_user(
    session: AsyncSession, *, user_id: str, sources: Sequence[ExportSource], now: datetime
) -> PersonalDataExport:
    """Everything the platform holds about the user. All or nothing: a source that fails fails the export."""
    own = await _own_data(session, user_id)
    # TaskGroup: the first failure cancels the other calls instead of waiting for them.
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [(source.name, group.create_task(source.export(user_id))) for source in sources]
    except ExceptionGroup as failures:
        first = failures.exceptions[0]
        if isinstance(first, DomainError):
            raise first from None
        raise
    services: dict[str, dict[str, Any]] = {SERVICE: own}
    services.update({name: task.result() for name, task in tasks})
    return PersonalDataExport(user_id=user_id, generated_at=now, services=services)


async def erase_user(session: AsyncSession, *, user_id: str, now: datetime) -> None:
    """Anonymise the user, unlink their WeChat account, end their sessions, tell the other services. Erasing an
    erased user again changes nothing."""
    if not await users_repository.erase_user(session, user_id, now=now):
        if await users_repository.get_user(session, user_id) is None:
            raise UserNotFound(f"User {user_id} does not exist")
        return
    # The next sign-in with the same WeChat account becomes a new user with nothing of the old one.
    await users_repository.delete_identities(session, user_id)
    await sessions_repository.revoke_subject_sessions(session, user_id, reason="erased", now=now)
    payload = UserErased(user_id=user_id, at=now)
    await outbox.record(session, type=USER_ERASED, aggregate=f"user:{user_id}", data=payload.model_dump(mode="json"))
