from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class SignInRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    date: dt.date = Field(description="The business-day (Asia/Shanghai by default) the sign-in counts for")
    streak: int = Field(description="Consecutive days signed in, today included")
    awarded: int
