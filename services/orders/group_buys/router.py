from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.common.app import NowDep
from services.common.auth import InvalidToken, MissingPermission, Principal, require_permission, signed_in
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.pagination import InvalidCursor, NoParams, Page
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.clients import LeadersTimeout, LeadersUnavailable
from services.orders.deps import LeadersDep, SettingsDep
from services.orders.group_buys import service
from services.orders.group_buys.exceptions import GroupBuyNotFound, InvalidGroupBuy, LeaderOrRegionRequired
from services.orders.group_buys.schemas import (
    GroupBuyCreate,
    GroupBuyFilters,
    GroupBuyOutcomeRead,
    GroupBuyRead,
    GroupBuyReadQuery,
)
from services.orders.orders.exceptions import UnknownLeader

router = APIRouter(prefix="/api/v1/group-buys", tags=["group-buys"])

GroupBuyId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Group-buy id")]
CatalogueStaff = Annotated[Principal, Depends(require_permission(Permission.CATALOGUE_MANAGE))]
#: Customers see the group-buys of their region; catalogue staff every one.
GroupBuyReader = Annotated[Principal, Depends(signed_in(Permission.CATALOGUE_MANAGE))]


@router.post(
    "",
    status_code=201,
    response_model=GroupBuyRead,
    summary="Open a group-buy: products or SKUs at a group-buy price, a window, a pickup date, regions (catalogue)",
    responses=problem_docs(InvalidToken, MissingPermission, InvalidGroupBuy),
)
async def create_group_buy(
    body: GroupBuyCreate, session: SessionDep, user: CatalogueStaff, settings: SettingsDep, now: NowDep
) -> GroupBuyRead:
    """Orders name the group-buy (`group_buy_id`) to buy at its prices; they are picked up on `pickup_date`."""
    return await service.create_group_buy(session, data=body, by=user.sub, tz=settings.tz, now=now)


@router.get(
    "",
    response_model=Page[GroupBuyRead],
    summary="Group-buys of a community's region (customers), or all (catalogue staff)",
    responses=problem_docs(
        InvalidToken, InvalidCursor, LeaderOrRegionRequired, UnknownLeader, LeadersUnavailable, LeadersTimeout
    ),
)
async def list_group_buys(
    session: SessionDep,
    user: GroupBuyReader,
    filters: Annotated[GroupBuyFilters, Query()],
    leaders: LeadersDep,
    now: NowDep,
) -> Page[GroupBuyRead]:
    """Newest first. `total` counts every match (group-buys are few); null when filtering by `state`."""
    return await service.list_group_buys(
        session, user=user, filters=filters, page=filters.page_params(), leaders=leaders, now=now
    )


@router.get(
    "/{group_buy_id}",
    response_model=GroupBuyRead,
    summary="Read a group-buy",
    responses=problem_docs(InvalidToken, GroupBuyNotFound, UnknownLeader, LeadersUnavailable, LeadersTimeout),
)
async def get_group_buy(
    group_buy_id: GroupBuyId,
    session: SessionDep,
    user: GroupBuyReader,
    query: Annotated[GroupBuyReadQuery, Query()],
    leaders: LeadersDep,
    now: NowDep,
) -> GroupBuyRead:
    """Customers name their community's leader (`leader_id`); a group-buy outside its region is 404 to them."""
    return await service.get_group_buy(
        session, group_buy_id=group_buy_id, user=user, leader_id=query.leader_id, leaders=leaders, now=now
    )


@router.get(
    "/{group_buy_id}/outcomes",
    response_model=list[GroupBuyOutcomeRead],
    summary="What the close decided per product and community: reached the minimum, or cancelled (catalogue)",
    responses=problem_docs(InvalidToken, MissingPermission, GroupBuyNotFound),
)
async def list_outcomes(
    group_buy_id: GroupBuyId, session: SessionDep, user: CatalogueStaff, _: NoParams
) -> list[GroupBuyOutcomeRead]:
    return await service.list_outcomes(session, group_buy_id=group_buy_id)
