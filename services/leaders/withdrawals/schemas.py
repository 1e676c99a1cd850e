from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.pagination import ListQuery
from services.common.text import Line
from services.common.types import Fen
from services.leaders.withdrawals.models import WithdrawalStatus


class WithdrawalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_fen: Fen


class WithdrawalReject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[Line, StringConstraints(min_length=1, max_length=500)]


class WithdrawalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    leader_id: str
    amount_fen: int
    status: WithdrawalStatus
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    payout_ref: str | None
    payout_state: str | None
    payout_package: str | None


class WithdrawalFilters(ListQuery):
    status: WithdrawalStatus | None = Field(default=None, description="`requested` is the approval queue")
