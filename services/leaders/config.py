"""Settings of the leaders service, read from `LEADERS_*` environment variables."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADERS_", populate_by_name=True, extra="ignore")
    service_name: ClassVar[str] = "leaders"

    port: int = 8001
    commission_freeze_days: int = Field(
        default=7, ge=0, le=365, description="Days after pickup before commission becomes available"
    )
    withdrawal_minimum_fen: int = Field(default=100, ge=1, description="Smallest withdrawal a leader may ask for")
    community_switching_allowed: bool = Field(default=True, description="May a customer move to another community")
    community_switch_lock_days: int = Field(
        default=0, ge=0, le=3650, description="Days after joining during which a member cannot leave or switch"
    )
    level_window_days: int = Field(default=30, ge=1, le=365, description="Days of figures a level evaluation reads")
    settlement_interval_seconds: float = Field(default=3600, gt=0, description="How often settlement runs")
    level_evaluation_interval_seconds: float = Field(default=86400, gt=0, description="How often levels are evaluated")
    payout_provider: Literal["fake"] = Field(default="fake", description="Who pays approved withdrawals out")


def get_settings() -> Settings:
    return Settings()
