from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.common.pagination import ListQuery
from services.common.text import CONTROL, Line
from services.common.types import UserId
from services.leaders.profiles.models import LeaderApplicationStatus, LeaderStatus

Name = Annotated[Line, StringConstraints(min_length=1, max_length=50)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{4,18}[0-9]$")]
Reason = Annotated[Line, StringConstraints(min_length=1, max_length=500)]
LevelCode = Annotated[Line, StringConstraints(min_length=1, max_length=32)]


def region_of(city: str | None, district: str | None) -> str | None:
    if city is None:
        return None
    return city if district is None else f"{city}/{district}"


class PickupPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    name: Annotated[Line, StringConstraints(min_length=1, max_length=100)]
    address: Annotated[Line, StringConstraints(min_length=1, max_length=200)]
    community: Annotated[Line, StringConstraints(min_length=1, max_length=100)]
    city: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30, pattern=rf"^[^/{CONTROL}]+$")
        ]
        | None
    ) = Field(default=None, description="The city of the pickup point (上海市): with `district`, its region")
    district: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=1, max_length=29, pattern=rf"^[^/{CONTROL}]+$")
        ]
        | None
    ) = Field(default=None, description="The district (浦东新区); only with a city")
    # strict: `true` is not a coordinate (lax floats would read it as 1.0)
    latitude: float | None = Field(default=None, ge=-90, le=90, strict=True)
    longitude: float | None = Field(default=None, ge=-180, le=180, strict=True)
    opening_hours: Annotated[Line, StringConstraints(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _coordinates_together(self) -> PickupPoint:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude go together")
        if self.district is not None and self.city is None:
            raise ValueError("a district needs its city")
        return self

    @property
    def region(self) -> str | None:
        """ "city/district", "city", or None: what group-buys name in their regions."""
        return region_of(self.city, self.district)

    def columns(self) -> dict[str, Any]:
        """The pickup point as the `pickup_*` columns of an application or a leader."""
        return {
            "pickup_name": self.name,
            "pickup_address": self.address,
            "pickup_community": self.community,
            "city": self.city,
            "district": self.district,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "opening_hours": self.opening_hours,
        }

    @classmethod
    def of(cls, row: Any) -> PickupPoint:
        return cls.model_construct(
            name=row.pickup_name,
            address=row.pickup_address,
            community=row.pickup_community,
            city=row.city,
            district=row.district,
            latitude=row.latitude,
            longitude=row.longitude,
            opening_hours=row.opening_hours,
        )


class ApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone
    pickup_point: PickupPoint


class ApplicationRead(BaseModel):
    id: int
    applicant_id: str
    status: LeaderApplicationStatus
    name: str
    phone: str
    pickup_point: PickupPoint
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> ApplicationRead:
        return cls(
            id=row.id,
            applicant_id=row.applicant_id,
            status=row.status,
            name=row.name,
            phone=row.phone,
            pickup_point=PickupPoint.of(row),
            reason=row.reason,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            created_at=row.created_at,
        )


class ApplicationApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    manager_id: UserId | None = None
    level: LevelCode | None = None


class ApplicationReject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class LeaderPublic(BaseModel):
    """What any signed-in user may see: enough to pick a pickup point."""

    leader_id: str
    name: str
    status: LeaderStatus
    level: str | None
    pickup_point: PickupPoint


class ManagerRead(BaseModel):
    """The leader's one-to-one manager, as the leader sees them."""

    id: str
    display_name: str
    contact_phone: str | None


class LeaderRead(LeaderPublic):
    """The full profile, for the leader themselves, their manager and staff who read every leader."""

    phone: str
    manager_id: str | None
    manager: ManagerRead | None = Field(
        default=None, description="Name and contact of the manager (`GET /leaders/me`), while they are a manager"
    )
    application_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> LeaderRead:
        return cls(
            leader_id=row.leader_id,
            name=row.name,
            status=row.status,
            level=row.level,
            pickup_point=PickupPoint.of(row),
            phone=row.phone,
            manager_id=row.manager_id,
            application_id=row.application_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def public(self) -> LeaderPublic:
        return LeaderPublic(
            leader_id=self.leader_id,
            name=self.name,
            status=self.status,
            level=self.level,
            pickup_point=self.pickup_point,
        )


class LeaderUpdate(BaseModel):
    """Ops changes; fields left out stay. `level` and `manager_id` can be cleared with null; `reason` is kept in the
    history of every change."""

    model_config = ConfigDict(extra="forbid")

    status: LeaderStatus | None = None
    level: LevelCode | None = None
    manager_id: UserId | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _status_not_null(self) -> LeaderUpdate:
        if "status" in self.model_fields_set and self.status is None:
            raise ValueError("status cannot be null")
        return self


class LeaderChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    field: str
    old_value: str | None
    new_value: str | None
    changed_by: str
    reason: str | None
    at: datetime


class InternalLeader(BaseModel):
    """What other services need to accept an order for a leader's pickup point."""

    leader_id: str
    status: LeaderStatus
    level: str | None
    pickup_point: PickupPoint
    region: str | None = Field(
        default=None, description="city/district of the pickup point; orders serves group-buys by it"
    )


class ApplicationFilters(ListQuery):
    status: LeaderApplicationStatus | None = None


class LeaderFilters(ListQuery):
    status: LeaderStatus | None = None
    manager_id: Annotated[Line, StringConstraints(min_length=1, max_length=64)] | None = None
