"""Settings of the points service, read from `POINTS_*` environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="POINTS_", populate_by_name=True, extra="ignore")
    service_name: ClassVar[str] = "points"

    port: int = 8003


def get_settings() -> Settings:
    return Settings()
