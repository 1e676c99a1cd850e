from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.text import Line
from services.common.types import BasisPoints, Fen
from services.leaders.ladder.models import LevelChangeDirection

LevelCodePath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class LevelWrite(BaseModel):
    """A level: the higher the `rank`, the better. A leader holds the best level whose thresholds (both) they meet
    over the last 30 days. `rate_bp`, when given, becomes the level's commission rule from now on."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[Line, StringConstraints(min_length=1, max_length=50)]
    rank: Annotated[int, Field(strict=True, ge=0, le=1000)]
    min_sales_fen: Fen
    min_completed_orders: Annotated[int, Field(strict=True, ge=0, le=10_000_000)]
    rate_bp: BasisPoints | None = None


class LevelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    rank: int
    min_sales_fen: int
    min_completed_orders: int
    rate_bp: int | None
    updated_at: datetime


class LevelChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    leader_id: str
    from_level: str | None
    to_level: str | None
    direction: LevelChangeDirection
    sales_fen: int | None
    completed_orders: int | None
    window_start: datetime | None
    window_end: datetime | None
    changed_by: str
    at: datetime


class EvaluationResult(BaseModel):
    evaluated: int
    promoted: int
    demoted: int
    window_start: datetime
    window_end: datetime
    changes: list[LevelChangeRead]


class NextLevel(BaseModel):
    code: str
    name: str
    min_sales_fen: int
    min_completed_orders: int


class LeaderSummary(BaseModel):
    """A leader's balances and level progress at a glance (for the analytics dashboard)."""

    leader_id: str
    status: str
    level: str | None
    manager_id: str | None
    pending_fen: int
    available_fen: int
    window_days: int
    window_sales_fen: int = Field(description="Net sales of the evaluation window, as level evaluation counts them")
    window_completed_orders: int
    next_level: NextLevel | None = Field(description="The lowest level ranked above the current one")
    progress_bp: int | None = Field(description="The lesser of sales and orders progress to the next level, ≤ 10000")
