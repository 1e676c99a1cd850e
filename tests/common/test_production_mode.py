"""`ENVIRONMENT=production`: every process refuses to start with a setting that would let someone mint or forge an
identity, and names the setting (accounts' own refusals are in tests/accounts/test_production.py)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from pydantic import SecretStr

from services.common.production import ProductionSettingsError
from services.common.settings import development_service_secret
from services.gateway.app import create_app as create_gateway
from services.gateway.config import GatewaySettings
from services.orders.config import DEVELOPMENT_PAYMENT_SECRET
from tests.wechatpay_stub import Keys

SERVICES = ("analytics", "leaders", "orders", "points")
JWKS = "https://api.example.com/.well-known/jwks.json"
#: WeChat Pay credentials of a production orders or leaders service (key files written once per module).
WECHATPAY: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def wechatpay_keys(tmp_path_factory: pytest.TempPathFactory) -> None:
    WECHATPAY.update(Keys().write(tmp_path_factory.mktemp("wechatpay")))
    WECHATPAY["wechatpay_base_url"] = "https://api.mch.weixin.qq.com"


def production(service: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "environment": "production",
        "database_url": "sqlite+aiosqlite:///:memory:",
        "auth_jwks_url": JWKS,
        "service_secret": SecretStr(f"a-long-random-secret-made-for-{service}-only"),
    }
    if service == "orders":
        values |= WECHATPAY | {
            "payment_secret": "a-long-random-payment-provider-key-0123",
            "payment_provider": "wechat",
            "wechatpay_notify_url": "https://shop.example/api/v1/payments/wechat/notify",
        }
    if service == "leaders":
        values |= WECHATPAY | {"payout_provider": "wechat"}
    settings_class = importlib.import_module(f"services.{service}.config").Settings
    return settings_class(**(values | overrides))


def start(service: str, settings: Any) -> Any:
    return importlib.import_module(f"services.{service}.app").create_app(settings)


def refusal(service: str, **overrides: Any) -> str:
    with pytest.raises(ProductionSettingsError) as caught:
        start(service, production(service, **overrides))
    return str(caught.value)


@pytest.mark.parametrize("service", SERVICES)
def test_a_production_configuration_starts(service: str) -> None:
    assert start(service, production(service)).state.settings.production
    assert start(service, production(service, auth_jwks_url="file:///etc/groupbuy/jwks.json"))


@pytest.mark.parametrize("service", SERVICES)
def test_a_jwks_url_without_tls_is_refused(service: str) -> None:
    message = refusal(service, auth_jwks_url="http://accounts:8004/.well-known/jwks.json")
    assert "AUTH_JWKS_URL" in message and f"the {service} service" in message


@pytest.mark.parametrize("service", SERVICES)
def test_a_missing_service_secret_is_refused(service: str) -> None:
    assert f"{service.upper()}_SERVICE_SECRET must be set" in refusal(service, service_secret=None)


@pytest.mark.parametrize("service", SERVICES)
def test_the_development_service_secret_is_refused(service: str) -> None:
    dev = development_service_secret(service)
    message = refusal(service, service_secret=SecretStr(dev))
    assert f"{service.upper()}_SERVICE_SECRET is the development secret" in message and dev not in message


@pytest.mark.parametrize("service", SERVICES)
def test_a_short_service_secret_is_refused(service: str) -> None:
    message = refusal(service, service_secret=SecretStr("short-secret"))
    assert f"{service.upper()}_SERVICE_SECRET must be at least" in message and "short-secret" not in message


def test_the_default_payment_secret_is_refused() -> None:
    message = refusal("orders", payment_secret=DEVELOPMENT_PAYMENT_SECRET)
    assert "ORDERS_PAYMENT_SECRET" in message and DEVELOPMENT_PAYMENT_SECRET not in message


def test_orders_refuses_the_fake_payment_provider_and_development_payments() -> None:
    message = refusal("orders", payment_provider="fake", dev_payments=True)
    assert "ORDERS_PAYMENT_PROVIDER" in message and "ORDERS_DEV_PAYMENTS" in message


def test_orders_refuses_to_start_without_wechat_pay_credentials() -> None:
    assert "ORDERS_WECHATPAY_API_V3_KEY" in refusal("orders", wechatpay_api_v3_key_file=None)


def test_leaders_refuses_the_fake_payout_provider() -> None:
    assert "LEADERS_PAYOUT_PROVIDER" in refusal("leaders", payout_provider="fake")


@pytest.mark.parametrize("service", SERVICES)
def test_every_wrong_setting_is_named_at_once(service: str) -> None:
    message = refusal(service, auth_jwks_url="http://accounts/jwks", service_secret=None)
    assert "AUTH_JWKS_URL" in message and f"{service.upper()}_SERVICE_SECRET" in message


@pytest.mark.parametrize("service", SERVICES)
def test_development_needs_no_configuration(service: str) -> None:
    settings_class = importlib.import_module(f"services.{service}.config").Settings
    assert not start(service, settings_class(database_url="sqlite+aiosqlite:///:memory:")).state.settings.production


def test_the_gateway_starts_in_production_with_tls_keys_and_refuses_them_without() -> None:
    assert create_gateway(GatewaySettings(environment="production", auth_jwks_url=JWKS)).settings.production
    with pytest.raises(ProductionSettingsError, match="AUTH_JWKS_URL") as caught:
        create_gateway(GatewaySettings(environment="production", auth_jwks_url="http://accounts:8004/jwks.json"))
    assert "the gateway service" in str(caught.value)
    assert not create_gateway(GatewaySettings(auth_jwks_url="http://accounts:8004/jwks.json")).settings.production


def test_the_gateway_has_no_development_login_to_turn_on() -> None:
    assert "dev_auth" not in GatewaySettings.model_fields
    routes = {getattr(route, "path", "") for route in create_gateway(GatewaySettings()).api.routes}
    assert not any(path.startswith("/api/v1/auth") for path in routes)


def test_a_relay_process_refuses_production_with_the_development_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.common.events import relay

    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(SystemExit) as refused:
        relay.main(["points"])
    message = str(refused.value)
    assert "AUTH_JWKS_URL" in message and "POINTS_SERVICE_SECRET" in message
