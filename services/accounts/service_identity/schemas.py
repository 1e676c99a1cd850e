from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.accounts.config import SERVICE_NAME_PATTERN
from services.common.text import Secret


class ServiceTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(pattern=SERVICE_NAME_PATTERN, examples=["orders"])
    secret: Secret = Field(min_length=1, max_length=256)
