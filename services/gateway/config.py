"""Gateway settings: read from `GATEWAY_*` variables, plus the settings every process shares (`AUTH_*`,
`ENVIRONMENT`)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import PlatformSettings


class GatewaySettings(PlatformSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", populate_by_name=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Gateway processes sharing the port (measured on 2 cores: see bench/results/gateway.json)",
    )
    accounts_url: str = "http://127.0.0.1:8004"
    leaders_url: str = "http://127.0.0.1:8001"
    orders_url: str = "http://127.0.0.1:8002"
    points_url: str = "http://127.0.0.1:8003"
    analytics_url: str = "http://127.0.0.1:8005"

    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    upstream_read_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest silence while waiting for an upstream's response"
    )
    upstream_pool_size: int = Field(default=200, ge=1, le=10_000, description="Open connections, all upstreams")
    # Below uvicorn's 5 s keep-alive, so the gateway drops an idle connection before the upstream does and never
    # sends a request down a socket the upstream is closing.
    upstream_keepalive_seconds: float = Field(default=4.0, gt=0)
    openapi_fetch_timeout_seconds: float = Field(default=3.0, gt=0)
    openapi_cache_seconds: float = Field(default=300.0, ge=0, description="How long a fetched document is reused")
    readiness_timeout_seconds: float = Field(default=1.0, gt=0)
    shutdown_grace_seconds: int = Field(
        default=20, ge=1, le=300, description="On SIGTERM, how long requests in flight may take to finish"
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest request body a signed-in caller may send",
    )
    max_anonymous_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest request body without an Authorization header (payment notifications, sign-in)",
    )

    log_level: str = "INFO"
    log_json: bool = True

    api_title: str = "Community group-buying API"
    api_version: str = "1.0.0"

    verified_tokens_cached: int = Field(
        default=10_000, ge=0, le=1_000_000, description="Verified tokens remembered until they expire"
    )

    @field_validator("accounts_url", "leaders_url", "orders_url", "points_url", "analytics_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        # Paths are appended verbatim, so `http://host/` would produce `//api/...`.
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    def upstream_urls(self) -> dict[str, str]:
        """Base URL of every upstream service, by the service name the route table uses."""
        return {
            "accounts": self.accounts_url,
            "leaders": self.leaders_url,
            "orders": self.orders_url,
            "points": self.points_url,
            "analytics": self.analytics_url,
        }


def get_settings() -> GatewaySettings:
    return GatewaySettings()
