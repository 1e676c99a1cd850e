from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.ingest.repository import insert_once
from services.analytics.models import customer_tags, tags


async def insert_tag(
    conn: AsyncConnection, *, code: str, name: str, description: str | None, created_by: str, at: datetime
) -> bool:
    values = {"code": code, "name": name, "description": description, "created_by": created_by, "created_at": at}
    return await insert_once(conn, tags, values)


async def get_tag(conn: AsyncConnection, code: str) -> Any:
    return (await conn.execute(select(tags).where(tags.c.code == code))).first()


async def list_tags(conn: AsyncConnection) -> Sequence[Any]:
    return (await conn.execute(select(tags).order_by(tags.c.code))).all()


async def tag_customer(conn: AsyncConnection, *, customer_id: str, tag: str, by: str, at: datetime) -> None:
    await insert_once(conn, customer_tags, {"customer_id": customer_id, "tag": tag, "tagged_by": by, "tagged_at": at})


async def untag_customer(conn: AsyncConnection, *, customer_id: str, tag: str) -> bool:
    result = await conn.execute(
        delete(customer_tags).where(customer_tags.c.customer_id == customer_id, customer_tags.c.tag == tag)
    )
    return result.rowcount == 1


async def tags_of_customer(conn: AsyncConnection, customer_id: str) -> Sequence[Any]:
    query = select(customer_tags).where(customer_tags.c.customer_id == customer_id).order_by(customer_tags.c.tag)
    return (await conn.execute(query)).all()
