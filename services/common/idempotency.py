"""`Idempotency-Key` for POST endpoints: the first response for a key (per caller and route) is stored in the same
transaction as the effect and replayed for retries; the same key with a different body is 409.

The key row is claimed *before* the work runs, inside a savepoint: on PostgreSQL a concurrent request with the same
key blocks on the unique index until the first transaction ends, then sees its stored response. On SQLite writers
are already serialised (BEGIN IMMEDIATE), so the claim can never race.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request
from pydantic import BaseModel
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from services.common.auth import CurrentUser
from services.common.clock import utcnow
from services.common.db import UTCDateTime
from services.common.errors import Conflict, DomainError

TABLE_NAME = "idempotency_keys"


class IdempotencyKeyRequired(DomainError):
    status = 400
    code = "IDEMPOTENCY_KEY_REQUIRED"
    title = "This endpoint needs an Idempotency-Key header"


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"
    title = "This Idempotency-Key was already used with a different request body"


class IdempotencyKeyInProgress(Conflict):
    code = "IDEMPOTENCY_KEY_IN_PROGRESS"
    title = "A request with this Idempotency-Key is still being processed"


def idempotency_table(metadata: MetaData) -> Table:
    """The key store, declared in each service's own metadata (and so in its own migrations)."""
    if TABLE_NAME in metadata.tables:
        return metadata.tables[TABLE_NAME]
    return Table(
        TABLE_NAME,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", String(64), nullable=False),
        Column("route", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response_body", LargeBinary, nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
        UniqueConstraint("user_id", "route", "key"),
    )


@dataclass(frozen=True, slots=True)
class IdempotencyContext:
    user_id: str
    route: str
    key: str
    table: Table


def _context(request: Request, user_id: str, key: str | None, *, required: bool) -> IdempotencyContext | None:
    if key is None:
        if required:
            raise IdempotencyKeyRequired()
        return None
    route = request.scope.get("route")
    route_path = getattr(route, "path", request.url.path)
    return IdempotencyContext(
        user_id=user_id,
        route=f"{request.method} {route_path}",
        key=key,
        table=idempotency_table(request.app.state.db.metadata),
    )


_KEY_HEADER = Header(
    alias="Idempotency-Key",
    min_length=1,
    max_length=200,
    pattern=r"^[\x21-\x7e]+$",
    description="A unique key per intended action; retries with the same key replay the first response.",
)


async def _required_key(request: Request, user: CurrentUser, key: Annotated[str, _KEY_HEADER]) -> IdempotencyContext:
    ctx = _context(request, user.sub, key, required=True)
    assert ctx is not None
    return ctx


async def _optional_key(
    request: Request, user: CurrentUser, key: Annotated[str | None, _KEY_HEADER] = None
) -> IdempotencyContext | None:
    return _context(request, user.sub, key, required=False)


IdempotencyKey = Annotated[IdempotencyContext, Depends(_required_key)]
OptionalIdempotencyKey = Annotated[IdempotencyContext | None, Depends(_optional_key)]


def _hash_body(body: BaseModel | None) -> str:
    raw = body.model_dump_json().encode() if body is not None else b""
    return hashlib.sha256(raw).hexdigest()


def _replay(status_code: int, body: bytes) -> Response:
    return Response(
        body, status_code=status_code, media_type="application/json", headers={"Idempotent-Replayed": "true"}
    )


async def run_idempotent(
    session: AsyncSession,
    ctx: IdempotencyContext | None,
    body: BaseModel | None,
    action: Callable[[], Awaitable[BaseModel]],
    *,
    status_code: int = 201,
) -> Response:
    """Run `action` once per key; store and return its response, or replay the stored one."""
    if ctx is None:
        return _json(status_code, await action())
    table = ctx.table
    request_hash = _hash_body(body)
    where = (table.c.user_id == ctx.user_id) & (table.c.route == ctx.route) & (table.c.key == ctx.key)
    try:
        async with session.begin_nested():
            await session.exec(
                table.insert().values(
                    user_id=ctx.user_id,
                    route=ctx.route,
                    key=ctx.key,
                    request_hash=request_hash,
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        stored_hash, stored_status, stored_body = (
            await session.exec(select(table.c.request_hash, table.c.status_code, table.c.response_body).where(where))
        ).one()
        if stored_hash != request_hash:
            raise IdempotencyKeyReused() from None
        if stored_status is None:
            raise IdempotencyKeyInProgress() from None
        return _replay(stored_status, stored_body)

    result = await action()
    response = _json(status_code, result)
    await session.exec(table.update().where(where).values(status_code=status_code, response_body=bytes(response.body)))
    return response


def _json(status_code: int, model: BaseModel) -> Response:
    payload: Any = model.model_dump(mode="json")
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")
