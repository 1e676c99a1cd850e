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
    shutdown_grace_seconds: float = Field(
        default=10.0, gt=0, le=300, description="On SIGTERM, how long running jobs may take to finish before cancelled"
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest request body the service reads"
    )
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

    # Events between services (shared by every process, so no service prefix).
    events_nats_url: str | None = Field(
        default=None,
        description="NATS JetStream URL; when set, events travel over NATS instead of HTTP push",
        validation_alias=AliasChoices("EVENTS_NATS_URL", "events_nats_url"),
    )
    events_nats_stream: str = Field(
        default="EVENTS",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="JetStream stream name; its subjects are `<name in lower case>.<event type>`",
        validation_alias=AliasChoices("EVENTS_NATS_STREAM", "events_nats_stream"),
    )
    events_nats_ack_wait_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How long JetStream waits for a consumer's ack before redelivering (after a consumer crash)",
        validation_alias=AliasChoices("EVENTS_NATS_ACK_WAIT_SECONDS", "events_nats_ack_wait_seconds"),
    )
    events_relay_in_process: bool = Field(
        default=True,
        description="Run the outbox relay inside the service; false when `make relay` runs it as its own process",
        validation_alias=AliasChoices("EVENTS_RELAY_IN_PROCESS", "events_relay_in_process"),
    )
    events_max_attempts: int = Field(
        default=10, ge=1, le=100, validation_alias=AliasChoices("EVENTS_MAX_ATTEMPTS", "events_max_attempts")
    )
    events_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, validation_alias=AliasChoices("EVENTS_POLL_SECONDS", "events_poll_seconds")
    )
    events_leaders_url: str = Field(
        default="http://127.0.0.1:8001", validation_alias=AliasChoices("EVENTS_LEADERS_URL", "events_leaders_url")
    )
    events_orders_url: str = Field(
        default="http://127.0.0.1:8002", validation_alias=AliasChoices("EVENTS_ORDERS_URL", "events_orders_url")
    )
    events_points_url: str = Field(
        default="http://127.0.0.1:8003", validation_alias=AliasChoices("EVENTS_POINTS_URL", "events_points_url")
    )
    events_accounts_url: str = Field(
        default="http://127.0.0.1:8004", validation_alias=AliasChoices("EVENTS_ACCOUNTS_URL", "events_accounts_url")
    )
    events_analytics_url: str = Field(
        default="http://127.0.0.1:8005",
        validation_alias=AliasChoices("EVENTS_ANALYTICS_URL", "events_analytics_url"),
    )

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone, at start-up rather than on the first sign-in
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)

    @property
    def events_subject_prefix(self) -> str:
        return self.events_nats_stream.lower() + "."

    def event_subscriber_urls(self) -> dict[str, str]:
        """Base URL of each service that may subscribe to events (HTTP push)."""
        return {
            "leaders": self.events_leaders_url,
            "orders": self.events_orders_url,
            "points": self.events_points_url,
            "accounts": self.events_accounts_url,
            "analytics": self.events_analytics_url,
        }

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{VAR_DIR / (self.service_name + '.db')}"
