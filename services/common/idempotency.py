"""`Idempotency-Key` for POST endpoints: the first response for a key (per caller and target) is stored in the same
transaction as the effect and replayed for retries; the same key with a different body is 409.

A key's scope is its concrete target: the method and the path with its ids (`POST /api/v1/flash-sales/7/orders`),
not the route template. The same key sent to another flash sale or another order is another request, decided on
its own, never a replay of the first target's answer (which would tell a buyer they bought in a sale where they
hold nothing). Numeric path parameters are written canonically (`007` is `7`), so one target has one scope.

The key row is claimed *before* the work runs (`INSERT ... ON CONFLICT DO NOTHING`): on PostgreSQL a concurrent
request with the same key blocks on the unique index until the first transaction ends, then sees its stored
response. On SQLite writers are already serialised (BEGIN IMMEDIATE), so the claim can never race. `claim_keys`,
`store_responses` and `release_keys` take many keys at once, for the batched flash-sale purchase.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request
from pydantic import BaseModel
from sqlalchemy import (
    Column,
    Executable,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from services.common.auth import BearerAuth, CurrentUser, Principal
from services.common.bulk import Bulk, SqlAlchemyBulk
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
    return IdempotencyContext(
        user_id=user_id,
        route=target_scope(request),
        key=key,
        table=idempotency_table(request.app.state.db.metadata),
    )


#: The width of the stored scope (`route` column).
SCOPE_LENGTH = 200


def target_scope(request: Request) -> str:
    """The method and the concrete path of the request, with numeric path parameters in canonical form: what a key
    is scoped by. A scope longer than the column keeps its start and ends with a hash of the whole."""
    route = request.scope.get("route")
    template = getattr(route, "path_format", None)
    if template is None:
        path = request.url.path
    else:
        path = template.format(**{name: _canonical(value) for name, value in request.path_params.items()})
    return scope_of(request.method, path)


def scope_of(method: str, path: str) -> str:
    """The scope of a key sent with `method` to the canonical `path` (code that answers before routing, such as
    the flash-sale purchase lane, builds the path itself)."""
    scope = f"{method} {path}"
    if len(scope) <= SCOPE_LENGTH:
        return scope
    digest = hashlib.sha256(scope.encode()).hexdigest()
    return f"{scope[: SCOPE_LENGTH - len(digest) - 1]}#{digest}"


def _canonical(value: object) -> str:
    text = str(value)
    # ASCII digits only: int() would also read other scripts' digits, which the routes refuse anyway.
    if text.isascii() and text.isdigit():
        return str(int(text))
    return text


#: What an Idempotency-Key may be: 1 to 200 visible ASCII characters.
KEY_MAX_LENGTH = 200
KEY_PATTERN = r"^[\x21-\x7e]+$"

_KEY_HEADER = Header(
    alias="Idempotency-Key",
    min_length=1,
    max_length=KEY_MAX_LENGTH,
    pattern=KEY_PATTERN,
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


def caller_with_key(auth: BearerAuth) -> Callable[..., Awaitable[IdempotencyContext]]:
    """One dependency for a busy POST route: the caller `auth` admits (authenticated first, as `IdempotencyKey`
    next to `auth` would) and their Idempotency-Key."""

    async def dependency(request: Request, user: Principal, key: Annotated[str, _KEY_HEADER]) -> IdempotencyContext:
        ctx = _context(request, user.sub, key, required=True)
        assert ctx is not None
        return ctx

    # Set as an object: this module's annotations are strings, and FastAPI resolves those in the module's globals.
    dependency.__annotations__["user"] = Annotated[Principal, Depends(auth)]
    return dependency


IdempotencyKey = Annotated[IdempotencyContext, Depends(_required_key)]
OptionalIdempotencyKey = Annotated[IdempotencyContext | None, Depends(_optional_key)]


def request_hash(body: BaseModel | None) -> str:
    """What a stored key remembers of its request: a retry with another body is refused, not replayed."""
    raw = body.model_dump_json().encode() if body is not None else b""
    return hashlib.sha256(raw).hexdigest()


def replay(status_code: int, body: bytes) -> Response:
    return Response(
        body, status_code=status_code, media_type="application/json", headers={"Idempotent-Replayed": "true"}
    )


@dataclass(frozen=True, slots=True)
class KeyUse:
    """One request's use of a key on a target: the caller, the key and the hash of the body."""

    user_id: str
    key: str
    request_hash: str


#: What claiming a key gives: None (claimed: do the work, then `store_responses`), the stored answer to replay,
#: or the refusal (another body, or the first request is still running).
Claim = Response | DomainError | None


@dataclass(frozen=True, slots=True)
class _KeyStatements:
    claim: Executable
    lookup: Executable
    store: Executable
    release: Executable


@functools.cache
def _statements(table: Table, dialect_name: str) -> _KeyStatements:
    """The key statements of one service's table, built once (`bulk` compiles each once)."""
    by_use = (
        (table.c.route == bindparam("p_route"))
        & (table.c.user_id == bindparam("p_user"))
        & (table.c.key == bindparam("p_key"))
    )
    # ON CONFLICT has the same form in both dialects, but each has its own construct for it.
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    return _KeyStatements(
        claim=insert(table)
        .values(
            user_id=bindparam("p_user"),
            route=bindparam("p_route"),
            key=bindparam("p_key"),
            request_hash=bindparam("p_hash"),
            created_at=bindparam("p_now"),
        )
        .on_conflict_do_nothing()
        .returning(table.c.user_id, table.c.key),
        lookup=select(
            table.c.user_id, table.c.key, table.c.request_hash, table.c.status_code, table.c.response_body
        ).where(by_use),
        store=update(table).where(by_use).values(status_code=bindparam("p_status"), response_body=bindparam("p_body")),
        release=delete(table).where(by_use),
    )


def _use(route: str, use: KeyUse) -> dict[str, Any]:
    return {"p_route": route, "p_user": use.user_id, "p_key": use.key}


async def claim_keys(bulk: Bulk, table: Table, route: str, uses: Sequence[KeyUse], *, now: datetime) -> list[Claim]:
    """Claim many keys of one target at once; one `Claim` per use, in order.

    A key claimed by a transaction still running makes the claim wait for its end (PostgreSQL's unique index;
    SQLite writers are serialised anyway), so a retry sees the first request's stored answer once it committed."""
    statements = _statements(table, bulk.dialect_name)
    rows = [{**_use(route, u), "p_hash": u.request_hash, "p_now": now} for u in uses]
    claimed = {(row[0], row[1]) for row in await bulk.fetch(statements.claim, rows)}
    seen = [_use(route, u) for u in uses if (u.user_id, u.key) not in claimed]
    stored = {(row[0], row[1]): (row[2], row[3], row[4]) for row in await bulk.fetch(statements.lookup, seen)}
    claims: list[Claim] = []
    for use in uses:
        if (use.user_id, use.key) in claimed:
            claims.append(None)
            continue
        hash_, status, body = stored.get((use.user_id, use.key), (use.request_hash, None, None))
        if hash_ != use.request_hash:
            claims.append(IdempotencyKeyReused())
        elif status is None or body is None:
            # Still running, or (not found) claimed by a transaction that rolled back while this one waited.
            claims.append(IdempotencyKeyInProgress())
        else:
            claims.append(replay(status, bytes(body)))
    return claims


async def store_responses(bulk: Bulk, table: Table, route: str, answers: Sequence[tuple[KeyUse, int, bytes]]) -> None:
    """Keep the answer of each claimed key (in the transaction of its effect), for its retries."""
    statement = _statements(table, bulk.dialect_name).store
    await bulk.execute(
        statement, [{**_use(route, use), "p_status": status, "p_body": body} for use, status, body in answers]
    )


async def release_keys(bulk: Bulk, table: Table, route: str, uses: Sequence[KeyUse]) -> None:
    """Give up claimed keys whose request was refused, as a rolled-back request would: a retry is decided afresh."""
    await bulk.execute(_statements(table, bulk.dialect_name).release, [_use(route, u) for u in uses])


def rescope_template_keys(connection: Connection, rescoped: Sequence[tuple[str, str, str]]) -> None:
    """For a migration: move keys stored under a route template (before keys were scoped by target) to the concrete
    path their stored answer names. Each of `rescoped` is (template, its `{parameter}`, the answer's field holding
    the parameter's value), e.g. `("POST /api/v1/orders/{order_id}/refunds", "{order_id}", "order_id")`. A key
    whose answer does not name its target (none stored: it never committed) is dropped."""
    table = idempotency_table(MetaData())
    for template, placeholder, field in rescoped:
        body = table.c.response_body
        if connection.dialect.name == "postgresql":
            target: Any = func.convert_from(body, "UTF8").cast(postgresql.JSONB)[field].astext
        else:
            target = func.json_extract(body.cast(String), f"$.{field}")
        under_template = table.c.route == template
        connection.execute(
            update(table)
            .where(under_template, body.is_not(None), target.is_not(None))
            .values(route=func.replace(table.c.route, placeholder, target.cast(String)))
        )
        connection.execute(delete(table).where(under_template))


async def run_idempotent(
    session: AsyncSession,
    ctx: IdempotencyContext | None,
    body: BaseModel | None,
    action: Callable[[], Awaitable[BaseModel]],
    *,
    status_code: int = 201,
) -> Response:
    """Run `action` once per key; store and return its response, or replay the stored one. A refusal raised by
    `action` rolls the request's transaction back, the key's claim with it."""
    if ctx is None:
        return _json(status_code, await action())
    use = KeyUse(ctx.user_id, ctx.key, request_hash(body))
    bulk = SqlAlchemyBulk(await session.connection())
    [claim] = await claim_keys(bulk, ctx.table, ctx.route, [use], now=utcnow())
    if isinstance(claim, Response):
        return claim
    if claim is not None:
        raise claim
    response = _json(status_code, await action())
    await store_responses(bulk, ctx.table, ctx.route, [(use, status_code, bytes(response.body))])
    return response


def _json(status_code: int, model: BaseModel) -> Response:
    payload: Any = model.model_dump(mode="json")
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")
