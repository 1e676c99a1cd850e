"""`ENVIRONMENT=production` refuses to start with anything that lets someone sign in as anyone or mint tokens with
a key that is not secret, and names the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from services.accounts.app import create_app
from services.accounts.config import Settings, development_service_secret, secret_hash
from services.accounts.keys.store import development_key_name, write_key
from services.accounts.production import ProductionSettingsError
from tests.accounts.conftest import START

APPID = "wx0123456789abcdef"
SECRET = "9f0c2a4b6d8e1f3a5c7b9d0e2f4a6c8b"


@pytest.fixture
def production_keys(tmp_path: Path) -> Path:
    directory = tmp_path / "prod-keys"
    write_key(directory, "20250301.pem")
    return directory


def production(keys: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "database_url": "sqlite+aiosqlite:///:memory:",
        "signing_keys_dir": keys,
        "dev_auth": False,
        "wechat_provider": "http",
        "wechat_appid": APPID,
        "wechat_secret": SecretStr(SECRET),
        "service_clients": {"orders": secret_hash("a-long-random-secret-made-for-orders-only")},
    }
    return Settings(**(values | overrides))


def refusal(settings: Settings) -> str:
    with pytest.raises(ProductionSettingsError) as caught:
        create_app(settings)
    return str(caught.value)


def test_a_production_configuration_starts(production_keys: Path) -> None:
    app = create_app(production(production_keys))
    assert app.state.settings.production
    assert "/api/v1/auth/dev-token" not in app.openapi()["paths"]


def test_dev_login_is_refused(production_keys: Path) -> None:
    assert "ACCOUNTS_DEV_AUTH" in refusal(production(production_keys, dev_auth=True))


def test_the_fake_wechat_provider_is_refused(production_keys: Path) -> None:
    assert "ACCOUNTS_WECHAT_PROVIDER" in refusal(production(production_keys, wechat_provider="fake"))


@pytest.mark.parametrize("appid", ["", "wx-development", "your-app-id"])
def test_a_missing_or_placeholder_appid_is_refused(production_keys: Path, appid: str) -> None:
    assert "ACCOUNTS_WECHAT_APPID" in refusal(production(production_keys, wechat_appid=appid))


@pytest.mark.parametrize("secret", ["", "change-me", "change-me-to-the-real-app-secret-0000", "short"])
def test_a_missing_or_placeholder_app_secret_is_refused(production_keys: Path, secret: str) -> None:
    message = refusal(production(production_keys, wechat_secret=SecretStr(secret)))
    assert "ACCOUNTS_WECHAT_SECRET" in message
    assert not secret or secret not in message  # named, never echoed


def test_development_keys_are_refused(production_keys: Path) -> None:
    write_key(production_keys, development_key_name(START))
    message = refusal(production(production_keys))
    assert "ACCOUNTS_SIGNING_KEYS_DIR" in message and "dev-" in message


def test_a_missing_key_is_refused_and_none_is_generated(tmp_path: Path) -> None:
    empty = tmp_path / "no-keys"
    assert "ACCOUNTS_SIGNING_KEYS_DIR" in refusal(production(empty))
    assert not empty.exists()


def test_development_service_secrets_are_refused(production_keys: Path) -> None:
    clients = {"orders": secret_hash(development_service_secret("orders")), "points": secret_hash("x" * 40)}
    message = refusal(production(production_keys, service_clients=clients))
    assert "ACCOUNTS_SERVICE_CLIENTS" in message and "orders" in message and "points" not in message


def test_the_default_service_clients_are_refused(production_keys: Path) -> None:
    defaults = Settings.model_fields["service_clients"].get_default(call_default_factory=True)
    assert "ACCOUNTS_SERVICE_CLIENTS" in refusal(production(production_keys, service_clients=defaults))


def test_every_wrong_setting_is_named_at_once(tmp_path: Path) -> None:
    message = refusal(Settings(environment="production", signing_keys_dir=tmp_path / "none"))
    for name in (
        "ACCOUNTS_WECHAT_PROVIDER",
        "ACCOUNTS_WECHAT_APPID",
        "ACCOUNTS_WECHAT_SECRET",
        "ACCOUNTS_SIGNING_KEYS_DIR",
        "ACCOUNTS_SERVICE_CLIENTS",
    ):
        assert name in message


def test_development_needs_no_configuration(tmp_path: Path) -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", signing_keys_dir=tmp_path / "k"))
    assert not app.state.settings.production


def test_accounts_never_issues_tokens_the_verifiers_would_refuse() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="AUTH_MAX_TOKEN_LIFETIME_SECONDS"):
        Settings(dev_token_ttl_seconds=7200)
    assert Settings(dev_token_ttl_seconds=7200, auth_max_token_lifetime_seconds=7200).dev_token_ttl_seconds == 7200
