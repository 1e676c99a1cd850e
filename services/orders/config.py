"""Settings of the orders service, read from `ORDERS_*` environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", populate_by_name=True, extra="ignore")
    service_name: ClassVar[str] = "orders"

    port: int = 8002


def get_settings() -> Settings:
    return Settings()
