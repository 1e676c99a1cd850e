"""Settings of the leaders service, read from `LEADERS_*` environment variables."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings
from services.common.wechatpay import WeChatPayConfigError, WeChatPaySettings, load_credentials


class Settings(ServiceSettings, WeChatPaySettings):
    model_config = SettingsConfigDict(env_prefix="LEADERS_", populate_by_name=True, extra="ignore")
    service_name: ClassVar[str] = "leaders"

    port: int = 8001
    commission_freeze_days: int = Field(
        default=7, ge=0, le=365, description="Days after pickup before commission becomes available"
    )
    withdrawal_minimum_fen: int = Field(default=100, ge=1, description="Smallest withdrawal a leader may ask for")
    community_switching_allowed: bool = Field(default=True, description="May a customer move to another community")
    community_switch_lock_days: int = Field(
        default=0, ge=0, le=3650, description="Days after joining during which a member cannot leave or switch"
    )
    commission_on_own_orders: bool = Field(
        default=False,
        description="Do leaders earn commission on the orders they buy themselves at their own pickup point",
    )
    level_window_days: int = Field(default=30, ge=1, le=365, description="Days of figures a level evaluation reads")
    settlement_interval_seconds: float = Field(default=3600, gt=0, description="How often settlement runs")
    level_evaluation_interval_seconds: float = Field(default=86400, gt=0, description="How often levels are evaluated")
    payout_provider: Literal["fake", "wechat"] = Field(
        default="fake", description="Who pays approved withdrawals out: `wechat` (transfer to balance) or `fake`"
    )
    withdrawal_auto_approve_fen: int = Field(
        default=0,
        ge=0,
        description="Withdrawals up to this are approved and paid without a finance user (0: none)",
    )
    payout_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often small withdrawals are approved and payouts on their way followed"
    )
    wechatpay_transfer_scene_id: str = Field(
        default="1005", max_length=16, description="WeChat transfer scene of commission payouts (1005: 佣金报酬)"
    )
    accounts_url: str = Field(
        default="http://127.0.0.1:8004", description="The accounts service, asked for a leader's WeChat openid"
    )

    def production_problems(self) -> list[str]:
        """What production mode must refuse, one line per wrong setting (named, never its value)."""
        problems: list[str] = []
        if self.payout_provider != "wechat":
            problems.append("LEADERS_PAYOUT_PROVIDER must be `wechat`: the fake provider pays nobody")
        try:
            load_credentials(self, prefix="LEADERS")
        except WeChatPayConfigError as exc:
            problems.append(str(exc))
        if not self.wechatpay_base_url.startswith("https://"):
            problems.append("LEADERS_WECHATPAY_BASE_URL must be an https URL")
        return problems


def get_settings() -> Settings:
    return Settings()
