"""Customer tags: ops define them and put them on customers; segment lists filter by them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.analytics.tags import repository
from services.analytics.tags.exceptions import TagExists, TagNotFound
from services.analytics.tags.schemas import CustomerTagRead, CustomerTags, TagCreate, TagList, TagRead


async def require_tag(conn: AsyncConnection, code: str) -> TagRead:
    row = await repository.get_tag(conn, code)
    if row is None:
        raise TagNotFound(f"No customer tag {code!r}")
    return TagRead.model_validate(row._mapping)


async def create_tag(conn: AsyncConnection, *, data: TagCreate, created_by: str, now: datetime) -> TagRead:
    if not await repository.insert_tag(
        conn, code=data.code, name=data.name, description=data.description, created_by=created_by, at=now
    ):
        raise TagExists(f"Tag {data.code!r} exists")
    return await require_tag(conn, data.code)


async def list_tags(conn: AsyncConnection) -> TagList:
    return TagList(items=[TagRead.model_validate(row._mapping) for row in await repository.list_tags(conn)])


async def customer_tags(conn: AsyncConnection, *, customer_id: str) -> CustomerTags:
    rows = await repository.tags_of_customer(conn, customer_id)
    return CustomerTags(customer_id=customer_id, tags=[CustomerTagRead.model_validate(r._mapping) for r in rows])


async def tag_customer(conn: AsyncConnection, *, customer_id: str, tag: str, by: str, now: datetime) -> CustomerTags:
    """Putting a tag on twice keeps the first (who and when)."""
    await require_tag(conn, tag)
    await repository.tag_customer(conn, customer_id=customer_id, tag=tag, by=by, at=now)
    return await customer_tags(conn, customer_id=customer_id)


async def untag_customer(conn: AsyncConnection, *, customer_id: str, tag: str) -> None:
    """Taking off a tag the customer does not carry changes nothing (DELETE is idempotent); an unknown tag is 404."""
    await require_tag(conn, tag)
    await repository.untag_customer(conn, customer_id=customer_id, tag=tag)
