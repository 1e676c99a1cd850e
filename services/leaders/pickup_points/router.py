from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.common.auth import CurrentUser, InvalidToken
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.leaders.pickup_points import service
from services.leaders.pickup_points.schemas import NearbyPickupPoints, NearbyQuery

router = APIRouter(prefix="/api/v1/pickup-points", tags=["pickup points"])


@router.get(
    "",
    response_model=NearbyPickupPoints,
    summary="Active pickup points near a place, nearest first",
    responses=problem_docs(InvalidToken),
)
async def nearby_pickup_points(
    session: SessionDep, user: CurrentUser, query: Annotated[NearbyQuery, Query()]
) -> NearbyPickupPoints:
    """`?lat=&lng=&radius_m=`: the leaders whose pickup point lies within `radius_m` metres, with the distance."""
    return await service.nearby(session, query=query)
