from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field

from services.common.db import timestamp_field
from services.points.db import PointsBase


class RuleVersion(PointsBase, table=True):
    """Every change of the earning and spending rules is a new row; the newest is in force.

    What an entry was granted under is stored on the entry (`details.rules_version`), never recomputed.
    """

    __tablename__ = "points_rule_versions"

    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    rules: dict[str, Any] = Field(sa_type=JSON)
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp_field()
