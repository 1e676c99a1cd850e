"""Settings of the leaders service, read from `LEADERS_*` environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADERS_", populate_by_name=True, extra="ignore")
    service_name: ClassVar[str] = "leaders"

    port: int = 8001


def get_settings() -> Settings:
    return Settings()
