"""Settings of the points service, read from `POINTS_*` environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="POINTS_", populate_by_name=True, extra="ignore")
    service_name: ClassVar[str] = "points"

    port: int = 8003
    hold_ttl_seconds: int = Field(
        default=3600, ge=60, le=30 * 86400, description="Holds not committed within this time are released"
    )
    jobs_interval_seconds: float = Field(
        default=60, gt=0, le=3600, description="How often the hold and lot expiry jobs run"
    )
    expiring_window_days: int = Field(
        default=31, ge=1, le=366, description="`GET /points/me` lists points expiring within this many days"
    )
    job_batch_size: int = Field(default=500, ge=1, le=10_000, description="Rows an expiry job handles per run")


def get_settings() -> Settings:
    return Settings()
