from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from services.analytics.deps import ConnectionDep, UserIdPath
from services.analytics.tags import service
from services.analytics.tags.exceptions import TagExists, TagNotFound
from services.analytics.tags.schemas import TAG_CODE_PATTERN, CustomerTags, TagCreate, TagList, TagRead
from services.common.app import NowDep
from services.common.auth import CurrentUser, InvalidToken, MissingPermission, Principal, require_permission
from services.common.errors import problem_docs
from services.common.pagination import NoParams
from services.common.permissions import Permission

tags_router = APIRouter(prefix="/api/v1/customer-tags", tags=["customer tags"])
customers_router = APIRouter(prefix="/api/v1/customers/{user_id}/tags", tags=["customer tags"])
TagStaff = Annotated[Principal, Depends(require_permission(Permission.CUSTOMERS_TAG))]

TagPath = Annotated[str, Path(pattern=TAG_CODE_PATTERN, description="The tag's code")]


@tags_router.post(
    "",
    status_code=201,
    response_model=TagRead,
    summary="Define a customer tag (staff: customers.tag)",
    responses=problem_docs(InvalidToken, MissingPermission, TagExists),
)
async def create_tag(body: TagCreate, conn: ConnectionDep, user: TagStaff, now: NowDep) -> TagRead:
    return await service.create_tag(conn, data=body, created_by=user.sub, now=now)


@tags_router.get(
    "",
    response_model=TagList,
    summary="Every customer tag (anyone signed in: leaders filter their lists by them)",
    responses=problem_docs(InvalidToken),
)
async def list_tags(conn: ConnectionDep, user: CurrentUser, _: NoParams) -> TagList:
    return await service.list_tags(conn)


@customers_router.get(
    "",
    response_model=CustomerTags,
    summary="The tags on a customer (staff: customers.tag)",
    responses=problem_docs(InvalidToken, MissingPermission),
)
async def get_customer_tags(user_id: UserIdPath, conn: ConnectionDep, user: TagStaff) -> CustomerTags:
    return await service.customer_tags(conn, customer_id=user_id)


@customers_router.put(
    "/{tag}",
    response_model=CustomerTags,
    summary="Put a tag on a customer (staff: customers.tag; putting it on again changes nothing)",
    responses=problem_docs(InvalidToken, MissingPermission, TagNotFound),
)
async def tag_customer(
    user_id: UserIdPath, tag: TagPath, conn: ConnectionDep, user: TagStaff, now: NowDep
) -> CustomerTags:
    return await service.tag_customer(conn, customer_id=user_id, tag=tag, by=user.sub, now=now)


@customers_router.delete(
    "/{tag}",
    status_code=204,
    response_class=Response,
    summary="Take a tag off a customer (staff: customers.tag; taking off one the customer lacks changes nothing)",
    responses=problem_docs(InvalidToken, MissingPermission, TagNotFound),
)
async def untag_customer(user_id: UserIdPath, tag: TagPath, conn: ConnectionDep, user: TagStaff) -> Response:
    await service.untag_customer(conn, customer_id=user_id, tag=tag)
    return Response(status_code=204)
