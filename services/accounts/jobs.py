"""Periodic work of the accounts service."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI

from services.accounts.sessions import repository as sessions_repository
from services.common.db import Database

log = logging.getLogger("services.accounts.jobs")

#: Expired refresh tokens are kept a day, so presenting one just after it expired still says EXPIRED, not INVALID.
EXPIRED_TOKEN_GRACE = timedelta(days=1)


async def prune_refresh_tokens(app: FastAPI) -> int:
    db: Database = app.state.db
    async with db.transaction() as session:
        deleted = await sessions_repository.delete_refresh_tokens_expired_before(
            session, app.state.clock() - EXPIRED_TOKEN_GRACE
        )
    if deleted:
        log.info("expired refresh tokens deleted", extra={"count": deleted})
    return deleted
