"""What a service holds about one person, for the accounts service's export (`GET /api/v1/me/export`).

Each service serves `GET /internal/users/{user_id}/export` to the accounts service's identity only, answering one
JSON object: table name -> that table's rows about the person (every column, as stored). The service names its
tables and how to find the person in each (`PersonalData`); rows reached through another table (an order's lines)
are selected with a subquery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, MetaData, Select, Table, delete, or_, select
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import InvalidToken, Principal, ServiceNotAllowed, require_service
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.idempotency import idempotency_table
from services.common.text import SINGLE_LINE_PATTERN

#: What an erased person's name and free text become (amounts, ids and dates stay).
ERASED = "(erased)"

#: The person's rows of one table: (table, condition on it given the user id).
PersonalTable = tuple[Table, Callable[[str], ColumnElement[bool]]]

AccountsService = Annotated[Principal, Depends(require_service("accounts"))]
UserIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=SINGLE_LINE_PATTERN, description="The user's id (`sub`)")
]


TableOrModel = Table | type[SQLModel]


def _table(source: TableOrModel) -> Table:
    if isinstance(source, Table):
        return source
    table: Table = source.__table__  # type: ignore[attr-defined]
    return table


def by_column(source: TableOrModel, *columns: str) -> PersonalTable:
    """The rows where any of `columns` holds the user's id."""
    table = _table(source)
    return table, lambda user_id: or_(*(table.c[column] == user_id for column in columns))


def through(
    source: TableOrModel, column: str, parent_source: TableOrModel, parent_column: str, parent_key: str = "id"
) -> PersonalTable:
    """The rows whose `column` points at a `parent` row whose `parent_column` holds the user's id."""
    table, parent = _table(source), _table(parent_source)

    def condition(user_id: str) -> ColumnElement[bool]:
        owned: Select[Any] = select(parent.c[parent_key]).where(parent.c[parent_column] == user_id)
        return table.c[column].in_(owned.scalar_subquery())

    return table, condition


async def export_personal_data(
    session: AsyncSession, user_id: str, tables: Sequence[PersonalTable]
) -> dict[str, list[dict[str, Any]]]:
    conn = await session.connection()
    exported: dict[str, list[dict[str, Any]]] = {}
    for table, condition in tables:
        key = list(table.primary_key.columns)
        rows = (await conn.execute(select(table).where(condition(user_id)).order_by(*key))).mappings().all()
        exported.setdefault(table.name, []).extend(to_jsonable_python(dict(row)) for row in rows)
    return exported


def export_router(tables: Callable[[], Sequence[PersonalTable]]) -> APIRouter:
    """`GET /internal/users/{user_id}/export` over `tables` (a callable: models load after the router is made)."""
    router = APIRouter(prefix="/internal/users", tags=["internal"])

    @router.get(
        "/{user_id}/export",
        summary="Everything this service holds about a person (the accounts service)",
        responses=problem_docs(InvalidToken, ServiceNotAllowed),
    )
    async def export_user(user_id: UserIdPath, session: SessionDep, caller: AccountsService) -> dict[str, Any]:
        return await export_personal_data(session, user_id, tables())

    return router


async def forget_idempotent_responses(session: AsyncSession, metadata: MetaData, user_id: str) -> None:
    """Drop the answers kept for the person's retries (`Idempotency-Key`): they repeat what the person sent, free
    text included, and a retry after the erasure has nothing left to replay."""
    table = idempotency_table(metadata)
    await session.exec(delete(table).where(table.c.user_id == user_id))
