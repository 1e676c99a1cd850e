from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Date, UniqueConstraint
from sqlmodel import Field

from services.common.db import timestamp_field
from services.points.db import PointsBase
from services.points.ledger.models import ID_TYPE


class SignIn(PointsBase, table=True):
    """A daily sign-in. The unique (user, local date) makes double taps and parallel requests one award."""

    __tablename__ = "points_sign_ins"
    __table_args__ = (UniqueConstraint("user_id", "local_date"),)

    id: int | None = Field(default=None, sa_column=Column(ID_TYPE, primary_key=True, autoincrement=True))
    user_id: str = Field(max_length=64)
    local_date: date = Field(sa_column=Column(Date, nullable=False))
    streak: int
    awarded: int = Field(sa_type=BigInteger)
    rules_version: int
    created_at: datetime = timestamp_field()
