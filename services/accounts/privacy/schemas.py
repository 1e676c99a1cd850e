from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class PersonalDataExport(BaseModel):
    user_id: str
    generated_at: datetime
    services: dict[str, dict[str, Any]] = Field(
        description="What each service holds about the person, by service name (`accounts` first)"
    )
