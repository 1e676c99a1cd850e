"""Settings base shared by every service.

Each service subclasses `ServiceSettings` with its own `<SERVICE>_` prefix. Settings every process must agree on
(the JWT key, the business time zone) are read without a prefix. Nothing is read at import time: apps call
`get_settings()` (or receive a settings object) inside `create_app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = PROJECT_ROOT / "var"


class ServiceSettings(BaseSettings):
    """What every service needs. Subclasses set `service_name` and `model_config` with their prefix."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")
    service_name: ClassVar[str] = "service"

    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default is an SQLite file under var/"
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    jwt_secret: str = Field(
        default="dev-only-secret-change-me-0123456789abcdef",
        min_length=32,
        validation_alias=AliasChoices("JWT_SECRET", "jwt_secret"),
    )
    jwt_algorithm: str = Field(default="HS256", validation_alias=AliasChoices("JWT_ALGORITHM", "jwt_algorithm"))
    business_timezone: str = Field(
        default="Asia/Shanghai", validation_alias=AliasChoices("BUSINESS_TIMEZONE", "business_timezone")
    )
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone, at start-up rather than on the first sign-in
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{VAR_DIR / (self.service_name + '.db')}"
