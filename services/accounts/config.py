"""Settings of the accounts service, read from `ACCOUNTS_*` environment variables (and `ENVIRONMENT`)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import VAR_DIR, ServiceSettings, development_service_secret

#: Services that get a client secret out of the box in development, so `make run` needs no configuration.
DEV_SERVICE_CLIENTS = ("leaders", "orders", "points", "gateway", "analytics")
SERVICE_NAME_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"
#: Where each service's `/internal/users/{id}/export` is under `make run` (the launcher puts its own ports here).
DEFAULT_EXPORT_SOURCES = {
    "leaders": "http://127.0.0.1:8001",
    "orders": "http://127.0.0.1:8002",
    "points": "http://127.0.0.1:8003",
    "analytics": "http://127.0.0.1:8005",
}

__all__ = ["DEV_SERVICE_CLIENTS", "Settings", "development_service_secret", "get_settings", "secret_hash"]


def secret_hash(secret: str) -> str:
    """How a service client's secret is configured: SHA-256, hex. Client secrets are long random strings, so a fast
    hash is enough (unlike passwords, they cannot be guessed from a dictionary)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _development_clients() -> dict[str, str]:
    return {name: secret_hash(development_service_secret(name)) for name in DEV_SERVICE_CLIENTS}


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ACCOUNTS_", populate_by_name=True, extra="ignore")
    service_name: ClassVar[str] = "accounts"

    port: int = 8004
    dev_auth: bool = Field(default=False, description="Serve POST /api/v1/auth/dev-token (never in production)")
    dev_token_ttl_seconds: int = Field(default=3600, ge=60, le=86400, description="Lifetime of dev tokens")

    signing_keys_dir: Path = Field(
        default_factory=lambda: VAR_DIR / "keys",
        description="Ed25519 private keys (PEM); every one is published, the newest active one signs",
    )
    signing_key_activation_seconds: float = Field(
        default=60,
        ge=0,
        le=86400,
        description="A key file signs only once it is this old, so verifiers have fetched it before its tokens come",
    )
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400, description="Lifetime of access tokens")
    refresh_token_ttl_seconds: int = Field(
        default=30 * 86400, ge=3600, le=365 * 86400, description="Lifetime of a refresh token (each use renews it)"
    )
    service_token_ttl_seconds: int = Field(default=300, ge=60, le=3600, description="Lifetime of service tokens")

    wechat_provider: Literal["fake", "http"] = Field(
        default="fake", description="`http` calls WeChat; `fake` answers deterministically (development only)"
    )
    wechat_base_url: str = Field(default="https://api.weixin.qq.com", description="Base URL of WeChat's API")
    wechat_appid: str = Field(default="", max_length=64, description="The mini-program's app id")
    wechat_secret: SecretStr = Field(default=SecretStr(""), description="The mini-program's app secret")
    wechat_timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="Timeout of each call to WeChat")

    staff_max_failed_logins: int = Field(
        default=5, ge=1, le=100, description="Wrong passwords in a row before a staff account is locked"
    )
    staff_lock_seconds: int = Field(default=900, ge=1, le=86400, description="How long a locked staff account waits")

    service_clients: dict[str, str] = Field(
        default_factory=_development_clients,
        description="Service name -> SHA-256 (hex) of its client secret, for POST /internal/service-tokens",
    )
    export_sources: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_EXPORT_SOURCES),
        description="Service name -> base URL; GET /me/export includes {url}/internal/users/{id}/export of each",
    )
    export_timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="Timeout of each export call")
    prune_interval_seconds: float = Field(
        default=3600, gt=0, le=86400, description="How often refresh tokens expired for a day are deleted"
    )

    bootstrap_admin_username: str | None = Field(
        default=None, description="`python -m services.accounts.bootstrap` creates this ops account if missing"
    )
    bootstrap_admin_password: SecretStr | None = Field(default=None, description="Its initial password")
    bootstrap_admin_password_file: Path | None = Field(default=None, description="Or a file holding it")

    @field_validator("wechat_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("service_clients")
    @classmethod
    def _client_hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not re.fullmatch(SERVICE_NAME_PATTERN, name):
                raise ValueError(f"{name!r} is not a service name")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"the secret of {name} must be given as its SHA-256 in lower-case hex")
        return value

    @field_validator("export_sources")
    @classmethod
    def _export_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if not re.fullmatch(SERVICE_NAME_PATTERN, name):
                raise ValueError(f"{name!r} is not a service name")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"the export URL of {name} must be an http:// or https:// URL")
        return {name: url.rstrip("/") for name, url in value.items()}

    @model_validator(mode="after")
    def _tokens_within_the_verifiers_limit(self) -> Settings:
        # Every verifier refuses a token living longer than AUTH_MAX_TOKEN_LIFETIME_SECONDS: issuing one would only
        # hand out tokens nobody accepts.
        limit = self.auth_max_token_lifetime_seconds
        for name in ("access_token_ttl_seconds", "dev_token_ttl_seconds", "service_token_ttl_seconds"):
            if getattr(self, name) > limit:
                raise ValueError(
                    f"ACCOUNTS_{name.upper()} is longer than AUTH_MAX_TOKEN_LIFETIME_SECONDS ({limit} s): "
                    "every service would refuse those tokens"
                )
        return self

    @property
    def token_issuer(self) -> str:
        return self.auth_token_issuer


def get_settings() -> Settings:
    return Settings()
