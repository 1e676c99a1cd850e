"""What production mode refuses in the money settings (orders and leaders), one wrong setting at a time, and the
providers the settings select."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.common.wechatpay import WeChatPayConfigError
from services.leaders.config import Settings as LeadersSettings
from services.orders.config import Settings as OrdersSettings
from services.orders.payment_provider import FakePaymentProvider
from services.orders.wechatpay import WeChatPayProvider, payment_provider_of
from tests.wechatpay_stub import Keys


def production_orders(tmp_path: Path, **changes: Any) -> OrdersSettings:
    values = Keys().write(tmp_path) | {
        "payment_provider": "wechat",
        "wechatpay_base_url": "https://api.mch.weixin.qq.com",
        "wechatpay_notify_url": "https://shop.example/api/v1/payments/wechat/notify",
    }
    return OrdersSettings(**(values | changes))


def production_leaders(tmp_path: Path, **changes: Any) -> LeadersSettings:
    values = Keys().write(tmp_path) | {
        "payout_provider": "wechat",
        "wechatpay_base_url": "https://api.mch.weixin.qq.com",
    }
    return LeadersSettings(**(values | changes))


def test_production_ready_money_settings_have_no_problem(tmp_path: Path) -> None:
    assert production_orders(tmp_path).production_problems() == []
    assert production_leaders(tmp_path).production_problems() == []


def test_the_development_defaults_are_refused(tmp_path: Path) -> None:
    problems = OrdersSettings().production_problems()
    assert any("ORDERS_PAYMENT_PROVIDER" in p for p in problems)
    assert any("ORDERS_WECHATPAY_MCHID" in p for p in problems)
    assert any("LEADERS_PAYOUT_PROVIDER" in p for p in LeadersSettings().production_problems())


ORDERS_CASES: list[tuple[dict[str, Any], str]] = [
    ({"payment_provider": "fake"}, "ORDERS_PAYMENT_PROVIDER"),
    ({"dev_payments": True}, "ORDERS_DEV_PAYMENTS"),
    ({"wechatpay_mchid": ""}, "ORDERS_WECHATPAY_MCHID"),
    ({"wechatpay_appid": ""}, "ORDERS_WECHATPAY_APPID"),
    ({"wechatpay_serial_no": ""}, "ORDERS_WECHATPAY_SERIAL_NO"),
    ({"wechatpay_private_key_file": None}, "ORDERS_WECHATPAY_PRIVATE_KEY"),
    ({"wechatpay_private_key_file": "missing.pem"}, "ORDERS_WECHATPAY_PRIVATE_KEY_FILE"),
    ({"wechatpay_private_key": "not a key", "wechatpay_private_key_file": None}, "ORDERS_WECHATPAY_PRIVATE_KEY"),
    ({"wechatpay_api_v3_key_file": None}, "ORDERS_WECHATPAY_API_V3_KEY"),
    ({"wechatpay_api_v3_key": "short", "wechatpay_api_v3_key_file": None}, "ORDERS_WECHATPAY_API_V3_KEY"),
    ({"wechatpay_platform_public_key_file": None}, "ORDERS_WECHATPAY_PLATFORM_PUBLIC_KEY_FILE"),
    ({"wechatpay_platform_public_key_id": ""}, "ORDERS_WECHATPAY_PLATFORM_PUBLIC_KEY_ID"),
    ({"wechatpay_notify_url": ""}, "ORDERS_WECHATPAY_NOTIFY_URL"),
    ({"wechatpay_notify_url": "http://shop.example/notify"}, "ORDERS_WECHATPAY_NOTIFY_URL"),
    ({"wechatpay_base_url": "http://127.0.0.1:9"}, "ORDERS_WECHATPAY_BASE_URL"),
]


@pytest.mark.parametrize(("change", "named"), ORDERS_CASES, ids=[name for _, name in ORDERS_CASES])
def test_each_wrong_orders_setting_is_named(tmp_path: Path, change: dict[str, Any], named: str) -> None:
    if change.get("wechatpay_private_key_file") == "missing.pem":
        change = {"wechatpay_private_key_file": tmp_path / "missing.pem"}
    problems = production_orders(tmp_path, **change).production_problems()
    assert len(problems) == 1 and named in problems[0], problems


LEADERS_CASES: list[tuple[dict[str, Any], str]] = [
    ({"payout_provider": "fake"}, "LEADERS_PAYOUT_PROVIDER"),
    ({"wechatpay_mchid": ""}, "LEADERS_WECHATPAY_MCHID"),
    ({"wechatpay_api_v3_key_file": None}, "LEADERS_WECHATPAY_API_V3_KEY"),
    ({"wechatpay_private_key_file": None}, "LEADERS_WECHATPAY_PRIVATE_KEY"),
    ({"wechatpay_platform_public_key_file": None}, "LEADERS_WECHATPAY_PLATFORM_PUBLIC_KEY_FILE"),
    ({"wechatpay_base_url": "http://127.0.0.1:9"}, "LEADERS_WECHATPAY_BASE_URL"),
]


@pytest.mark.parametrize(("change", "named"), LEADERS_CASES, ids=[name for _, name in LEADERS_CASES])
def test_each_wrong_leaders_setting_is_named(tmp_path: Path, change: dict[str, Any], named: str) -> None:
    problems = production_leaders(tmp_path, **change).production_problems()
    assert len(problems) == 1 and named in problems[0], problems


def test_a_platform_certificate_may_stand_for_the_public_key(tmp_path: Path) -> None:
    from tests.wechatpay_stub import self_signed_certificate

    keys = Keys()
    (tmp_path / "platform.pem").write_text(self_signed_certificate(keys.platform, 0x5157F09EFDC096DE15EBE81A47057A72))
    settings = production_orders(
        tmp_path, wechatpay_platform_public_key_file=None, wechatpay_platform_certificate_file=tmp_path / "platform.pem"
    )
    assert settings.production_problems() == []
    provider, real = payment_provider_of(settings)
    assert real and isinstance(provider, WeChatPayProvider)
    assert provider.credentials.platform_key_id == "5157F09EFDC096DE15EBE81A47057A72"


def test_the_settings_select_the_provider_and_broken_credentials_stop_the_start(tmp_path: Path) -> None:
    fake, real = payment_provider_of(OrdersSettings())
    assert isinstance(fake, FakePaymentProvider) and not real
    wechat, real = payment_provider_of(production_orders(tmp_path))
    assert isinstance(wechat, WeChatPayProvider) and real
    with pytest.raises(WeChatPayConfigError, match="ORDERS_WECHATPAY_API_V3_KEY"):
        payment_provider_of(production_orders(tmp_path, wechatpay_api_v3_key_file=None))


def test_secrets_do_not_show_in_the_settings_or_credentials(tmp_path: Path) -> None:
    keys = Keys()
    settings = OrdersSettings(**(keys.write(tmp_path) | {"wechatpay_api_v3_key": keys.api_v3_key}))
    provider, _ = payment_provider_of(settings.model_copy(update={"payment_provider": "wechat"}))
    shown = repr(settings) + str(settings.model_dump()) + repr(getattr(provider, "credentials", ""))
    for secret in keys.secrets():
        assert secret not in shown
