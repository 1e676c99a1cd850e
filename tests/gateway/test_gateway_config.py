"""Gateway settings come from GATEWAY_* variables, and the JWT settings from the variables every service reads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.settings import ServiceSettings
from services.gateway.config import GatewaySettings, get_settings


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DEV_AUTH", "true")
    monkeypatch.setenv("GATEWAY_ORDERS_URL", "http://orders.internal:9000/")
    monkeypatch.setenv("GATEWAY_UPSTREAM_READ_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("JWT_SECRET", "s" * 40)
    settings = get_settings()
    assert settings.dev_auth is True
    assert settings.upstream_urls()["orders"] == "http://orders.internal:9000"  # no '//' when paths are added
    assert settings.upstream_read_timeout_seconds == 2.5
    assert settings.jwt_secret == "s" * 40


def test_defaults_match_the_contract_and_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEWAY_DEV_AUTH", "GATEWAY_PORT", "JWT_SECRET", "JWT_ALGORITHM"):
        monkeypatch.delenv(name, raising=False)
    settings = GatewaySettings()
    assert settings.port == 8000
    assert settings.dev_auth is False
    assert settings.upstream_urls() == {
        "leaders": "http://127.0.0.1:8001",
        "orders": "http://127.0.0.1:8002",
        "points": "http://127.0.0.1:8003",
        "analytics": "http://127.0.0.1:8005",
    }
    # Tokens the gateway signs by default must verify in a service running on its defaults.
    shared = ServiceSettings()
    assert (settings.jwt_secret, settings.jwt_algorithm) == (shared.jwt_secret, shared.jwt_algorithm)


@pytest.mark.parametrize("url", ["orders:8002", "ftp://orders", ""])
def test_an_upstream_url_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(orders_url=url)
