"""Gateway settings come from GATEWAY_* variables, and the token settings from the variables every process reads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.settings import ServiceSettings
from services.gateway.config import GatewaySettings, get_settings


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ORDERS_URL", "http://orders.internal:9000/")
    monkeypatch.setenv("GATEWAY_UPSTREAM_READ_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("AUTH_JWKS_URL", "https://accounts.internal/.well-known/jwks.json")
    settings = get_settings()
    assert settings.upstream_urls()["orders"] == "http://orders.internal:9000"  # no '//' when paths are added
    assert settings.upstream_read_timeout_seconds == 2.5
    assert settings.auth_jwks_url == "https://accounts.internal/.well-known/jwks.json"


def test_defaults_match_the_contract_and_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEWAY_PORT", "AUTH_JWKS_URL", "AUTH_TOKEN_ISSUER", "AUTH_MAX_TOKEN_LIFETIME_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    settings = GatewaySettings()
    assert settings.port == 8000
    assert settings.upstream_urls() == {
        "accounts": "http://127.0.0.1:8004",
        "leaders": "http://127.0.0.1:8001",
        "orders": "http://127.0.0.1:8002",
        "points": "http://127.0.0.1:8003",
        "analytics": "http://127.0.0.1:8005",
    }
    # The gateway refuses exactly what a service on its defaults refuses: the same keys, issuer and limits.
    shared = ServiceSettings()
    assert (settings.auth_jwks_url, settings.auth_token_issuer, settings.auth_max_token_lifetime_seconds) == (
        shared.auth_jwks_url,
        shared.auth_token_issuer,
        shared.auth_max_token_lifetime_seconds,
    )


@pytest.mark.parametrize("url", ["orders:8002", "ftp://orders", ""])
def test_an_upstream_url_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(orders_url=url)
