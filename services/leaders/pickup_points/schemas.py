from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.leaders.profiles.schemas import PickupPoint


class NearbyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, description="The customer's latitude")
    lng: float = Field(ge=-180, le=180, description="The customer's longitude")
    radius_m: int = Field(default=3000, ge=1, le=50_000, description="How far to look, in metres")
    limit: int = Field(default=20, ge=1, le=100)


class NearbyPickupPoint(BaseModel):
    leader_id: str
    name: str
    pickup_point: PickupPoint
    region: str | None
    distance_m: int = Field(description="Great-circle distance, rounded to the metre")


class NearbyPickupPoints(BaseModel):
    items: list[NearbyPickupPoint]
    total: int = Field(description="Active pickup points within the radius (every one is returned up to `limit`)")
