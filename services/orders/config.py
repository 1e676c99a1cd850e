"""Settings of the orders service, read from `ORDERS_*` environment variables."""

from __future__ import annotations

import re
from datetime import time
from typing import ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings
from services.common.wechatpay import WeChatPayConfigError, WeChatPaySettings, load_credentials

_HH_MM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")  # [0-9], not \d: ASCII digits only
DEVELOPMENT_PAYMENT_SECRET = "dev-only-payment-secret-change-me"  # noqa: S105 - public; production refuses it


class Settings(ServiceSettings, WeChatPaySettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", populate_by_name=True, extra="ignore")
    service_name: ClassVar[str] = "orders"

    port: int = 8002

    # Other services this one calls synchronously (only while creating an order).
    leaders_url: str = "http://127.0.0.1:8001"
    points_url: str = "http://127.0.0.1:8003"
    accounts_url: str = Field(
        default="http://127.0.0.1:8004", description="The accounts service, asked for a payer's WeChat openid"
    )
    upstream_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    leader_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a leader lookup is reused (0 = ask every time)"
    )

    # Orders
    max_lines_per_order: int = Field(default=20, ge=1, le=200)
    max_quantity_per_line: int = Field(default=50, ge=1, le=100_000)
    payment_timeout_seconds: int = Field(default=900, ge=1)
    # Caps on what one customer holds unpaid (regular and group-buy orders), so one account cannot keep a product's
    # stock from everyone else for the payment window. Five open carts and a household's week of groceries fit.
    max_unpaid_orders_per_customer: int = Field(
        default=5, ge=1, le=1000, description="Orders one customer may have waiting for payment at once"
    )
    max_unpaid_units_per_customer: int = Field(
        default=200, ge=1, le=1_000_000, description="Units one customer's unpaid orders may hold at once"
    )
    flash_payment_timeout_seconds: int = Field(default=300, ge=1)
    payment_timeout_interval_seconds: float = Field(default=10.0, gt=0)
    payment_timeout_batch: int = Field(default=200, ge=1, le=10_000)

    # Payments
    payment_provider: Literal["fake", "wechat"] = Field(
        default="fake", description="`wechat` (WeChat Pay API v3, `ORDERS_WECHATPAY_*`) or `fake` (development)"
    )
    dev_payments: bool = Field(
        default=False, description="Serve POST /api/v1/dev/orders/{id}/pay (development only; never in production)"
    )
    payment_secret: str = Field(default=DEVELOPMENT_PAYMENT_SECRET, min_length=16)
    wechatpay_notify_url: str = Field(
        default="", description="Public URL of /api/v1/payments/wechat/notify, given to WeChat with every order"
    )
    refund_interval_seconds: float = Field(default=10.0, gt=0)
    refund_max_attempts: int = Field(
        default=6, ge=1, le=50, description="Failed attempts before a refund is parked for staff"
    )
    reconciliation_after: str = Field(
        default="10:00", description="Local time from which yesterday's bills are fetched and reconciled"
    )
    reconciliation_interval_seconds: float = Field(default=600.0, gt=0)
    abandoned_hold_interval_seconds: float = Field(
        default=2.0, gt=0, description="How often releases of points held for failed orders are retried"
    )
    orphan_hold_grace_seconds: float = Field(
        default=60.0, ge=5, description="A points hold older than this whose order does not exist is released"
    )

    # Pickup and after-sale
    pickup_max_attempts: int = Field(default=5, ge=1, le=100)
    pickup_lock_seconds: int = Field(default=900, ge=1)
    after_sale_days: int = Field(default=7, ge=0, le=365)
    # After-sale review: a request is approved at once when it asks for at most the automatic limit, comes within
    # the automatic window after pickup (or before pickup), and keeps the customer's approvals of the last 30 days
    # within the cap; any other waits for the order's leader (up to the leader's limit) or support and finance
    # staff (above the finance threshold, finance only).
    after_sale_auto_approve_limit_fen: int = Field(default=2000, ge=0)
    after_sale_auto_approve_hours: int = Field(default=48, ge=0, le=24 * 365)
    after_sale_auto_approve_cap_fen: int = Field(default=10_000, ge=0)
    after_sale_leader_limit_fen: int = Field(default=5000, ge=0)
    after_sale_finance_threshold_fen: int = Field(default=20_000, ge=0)

    # Delivery: paid orders are batched per leader at this local time every day (business time zone).
    delivery_cutoff: str = "22:00"
    delivery_cutoff_interval_seconds: float = Field(default=60.0, gt=0)

    # Flash sales: Redis decides who gets the stock when set; the database does otherwise.
    redis_url: str | None = None
    redis_prefix: str = Field(default="gb", min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.:-]+$")
    flash_sold_out_ttl_seconds: float = Field(
        default=2.0, ge=0, description="How long a sold-out answer is given from memory before asking again"
    )

    @field_validator("delivery_cutoff", "reconciliation_after")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _HH_MM.match(value):
            raise ValueError("must be HH:MM (24-hour, business time zone)")
        return value

    @field_validator("leaders_url", "points_url", "accounts_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def cutoff_time(self) -> time:
        hours, minutes = self.delivery_cutoff.split(":")
        return time(int(hours), int(minutes))

    @property
    def reconciliation_time(self) -> time:
        hours, minutes = self.reconciliation_after.split(":")
        return time(int(hours), int(minutes))

    def production_problems(self) -> list[str]:
        """What production mode must refuse, one line per wrong setting (named, never its value)."""
        problems: list[str] = []
        if self.payment_provider != "wechat":
            problems.append("ORDERS_PAYMENT_PROVIDER must be `wechat`: the fake provider takes no money")
        if self.dev_payments:
            problems.append("ORDERS_DEV_PAYMENTS must be false: it lets a customer mark an order paid")
        try:
            load_credentials(self, prefix="ORDERS")
        except WeChatPayConfigError as exc:
            problems.append(str(exc))
        if not self.wechatpay_notify_url.startswith("https://"):
            problems.append("ORDERS_WECHATPAY_NOTIFY_URL must be the public https URL of the WeChat notify endpoint")
        if not self.wechatpay_base_url.startswith("https://"):
            problems.append("ORDERS_WECHATPAY_BASE_URL must be an https URL")
        return problems


def payment_secret_problems(settings: Settings) -> list[str]:
    """What `ENVIRONMENT=production` refuses on top of every service's checks: a payment key anyone may know."""
    if settings.payment_secret == DEVELOPMENT_PAYMENT_SECRET:
        return ["ORDERS_PAYMENT_SECRET is the development default: anyone could sign a payment notification"]
    return []


def get_settings() -> Settings:
    return Settings()
