"""Pickup points near a customer, nearest first: a bounding box around the point (cheap, on an index), then the
exact great-circle distance of what is inside it."""

from __future__ import annotations

import math

from sqlmodel.ext.asyncio.session import AsyncSession

from services.leaders.pickup_points import repository
from services.leaders.pickup_points.schemas import NearbyPickupPoint, NearbyPickupPoints, NearbyQuery
from services.leaders.profiles.schemas import PickupPoint, region_of

EARTH_RADIUS_M = 6_371_000.0


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


async def nearby(session: AsyncSession, *, query: NearbyQuery) -> NearbyPickupPoints:
    dlat = math.degrees(query.radius_m / EARTH_RADIUS_M)
    # A degree of longitude shrinks towards the poles; near them the box spans every longitude.
    cos_lat = math.cos(math.radians(query.lat))
    dlng = 180.0 if cos_lat < 1e-6 else min(180.0, dlat / cos_lat)
    rows = await repository.active_leaders_in_box(
        session,
        min_lat=query.lat - dlat,
        max_lat=query.lat + dlat,
        min_lng=query.lng - dlng,
        max_lng=query.lng + dlng,
    )
    found: list[tuple[float, NearbyPickupPoint]] = []
    for leader in rows:
        assert leader.latitude is not None and leader.longitude is not None
        meters = distance_m(query.lat, query.lng, leader.latitude, leader.longitude)
        if meters <= query.radius_m:
            point = NearbyPickupPoint(
                leader_id=leader.leader_id,
                name=leader.name,
                pickup_point=PickupPoint.of(leader),
                region=region_of(leader.city, leader.district),
                distance_m=round(meters),
            )
            found.append((meters, point))
    found.sort(key=lambda pair: (pair[0], pair[1].leader_id))
    return NearbyPickupPoints(items=[p for _, p in found[: query.limit]], total=len(found))
