"""Settings base shared by every process.

Each service subclasses `ServiceSettings` with its own `<SERVICE>_` prefix; the gateway has its own class. Settings
every process must agree on (where the token keys are published, who issues tokens, the business time zone) are read
without a prefix, from `PlatformSettings`. Nothing is read at import time: apps call `get_settings()` (or receive a
settings object) inside `create_app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = PROJECT_ROOT / "var"
DEFAULT_JWKS_URL = "http://127.0.0.1:8004/.well-known/jwks.json"
DEFAULT_ACCOUNTS_URL = "http://127.0.0.1:8004"


def development_service_secret(service: str) -> str:
    """The client secret a service presents to accounts in development (public knowledge: production refuses it)."""
    return f"dev-service-secret-{service}"


class PlatformSettings(BaseSettings):
    """Settings of every process, the gateway included: how tokens are verified, and which environment this is."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development",
        description="`production` refuses development keys and secrets, dev login and the fake WeChat provider",
        validation_alias=AliasChoices("ENVIRONMENT", "environment"),
    )
    auth_jwks_url: str = Field(
        default=DEFAULT_JWKS_URL,
        description="Where the public keys that verify tokens are published (http(s):// or file://)",
        validation_alias=AliasChoices("AUTH_JWKS_URL", "auth_jwks_url"),
    )
    auth_token_issuer: str = Field(
        default="groupbuy-accounts",
        min_length=1,
        max_length=100,
        description="The `iss` claim accounts signs and every verifier expects",
        validation_alias=AliasChoices("AUTH_TOKEN_ISSUER", "auth_token_issuer"),
    )
    auth_max_token_lifetime_seconds: int = Field(
        default=3600,
        ge=60,
        le=86400,
        description="A token whose `exp - iat` is longer is refused, whoever signed it",
        validation_alias=AliasChoices("AUTH_MAX_TOKEN_LIFETIME_SECONDS", "auth_max_token_lifetime_seconds"),
    )

    @field_validator("auth_jwks_url")
    @classmethod
    def _jwks_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "file://")):
            raise ValueError("must be an http://, https:// or file:// URL")
        return value

    @property
    def production(self) -> bool:
        return self.environment == "production"


class ServiceSettings(PlatformSettings):
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
    service_secret: SecretStr | None = Field(
        default=None,
        description="The client secret this service presents to accounts for its service token "
        "(`<SERVICE>_SERVICE_SECRET`; the development secret when unset)",
    )
    auth_accounts_url: str = Field(
        default=DEFAULT_ACCOUNTS_URL,
        description="The accounts service, asked for this service's own token (`POST /internal/service-tokens`)",
        validation_alias=AliasChoices("AUTH_ACCOUNTS_URL", "auth_accounts_url"),
    )
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

    @field_validator("service_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `LEADERS_SERVICE_SECRET=` (an empty variable, as compose writes an unset one) means "not configured".
        return None if value == "" else value

    @field_validator("auth_accounts_url")
    @classmethod
    def _accounts_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone, at start-up rather than on the first sign-in
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)

    def client_secret(self) -> str:
        """What this service presents to accounts: its configured secret, or the development one."""
        if self.service_secret is not None:
            return self.service_secret.get_secret_value()
        return development_service_secret(self.service_name)

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
