"""Gateway settings: read from `GATEWAY_*` variables, plus the settings every process shares (`AUTH_*`,
`ENVIRONMENT`)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import PlatformSettings
from services.gateway.ratelimit import parse_limits, parse_networks


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

    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest request head (request line and headers); beyond it the gateway answers 431",
    )

    # Rate limits (services/gateway/ratelimit.py). A limit is what the `limits` library parses: "5/second",
    # "5/second;30/minute" (every part must hold), "" for none.
    rate_limits_enabled: bool = Field(default=True, description="Answer 429 past the limits below")
    rate_limit_storage_url: str = Field(
        default="memory://",
        description="memory:// (each gateway process counts alone) or redis://host:port/db (shared by every process)",
    )
    rate_limit_key_prefix: str = Field(default="groupbuy-ratelimit", min_length=1, description="Redis key prefix")
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks whose X-Forwarded-For names the client (load balancers)",
    )
    rate_limit_sign_in_per_address: str = "60/minute"
    rate_limit_orders_per_user: str = "5/second;30/minute"
    rate_limit_orders_per_address: str = "20/second;600/minute"
    rate_limit_flash_per_user: str = "5/second;30/minute"
    rate_limit_flash_per_address: str = "100/second"
    rate_limit_referrals_per_user: str = "5/minute"
    rate_limit_referrals_per_address: str = "60/minute"
    rate_limit_notify_per_address: str = "50/second"

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

    @field_validator(
        "rate_limit_sign_in_per_address",
        "rate_limit_orders_per_user",
        "rate_limit_orders_per_address",
        "rate_limit_flash_per_user",
        "rate_limit_flash_per_address",
        "rate_limit_referrals_per_user",
        "rate_limit_referrals_per_address",
        "rate_limit_notify_per_address",
    )
    @classmethod
    def _a_rate_limit(cls, value: str) -> str:
        parse_limits(value)  # refused at start-up, not at the first request
        return value

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _a_storage(cls, value: str) -> str:
        if value != "memory://" and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be memory:// or a redis:// (rediss://) URL")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

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
