"""Settings of the analytics service, read from `ANALYTICS_*` environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", populate_by_name=True, extra="ignore")
    service_name: ClassVar[str] = "analytics"

    port: int = 8005
    leaders_url: str = Field(
        default="http://127.0.0.1:8001", description="The leaders service: dashboard summary, rebuild source"
    )
    orders_url: str = Field(default="http://127.0.0.1:8002", description="The orders service: rebuild source")
    points_url: str = Field(default="http://127.0.0.1:8003", description="The points service: rebuild source")
    upstream_timeout_seconds: float = Field(
        default=2.0, gt=0, le=60, description="Timeout of calls to other services (dashboard, rebuild pages)"
    )
    new_member_days: int = Field(default=7, ge=1, le=366, description="`new` segment: joined within this many days")
    dormant_days: int = Field(
        default=30, ge=1, le=3660, description="`dormant` segment: no order for at least this many days"
    )
    churned_days: int = Field(
        default=90, ge=2, le=3660, description="`churned` segment: left, or no order for at least this many days"
    )
    high_value_share_bp: int = Field(
        default=2000, ge=1, le=10_000, description="`high_value` segment: this top share of members by net sales"
    )
    top_products: int = Field(default=10, ge=1, le=100, description="Products listed in `top_products`")
    alert_buyers_drop_bp: int = Field(
        default=3000, ge=1, le=10_000, description="Alert when active buyers fall by at least this share week on week"
    )
    alert_leave_rate_rise_bp: int = Field(
        default=500, ge=1, le=10_000, description="Alert when the weekly leave rate rises by at least this much"
    )
    alert_min_buyers: int = Field(
        default=5, ge=1, le=1_000_000, description="Buyer alerts only for leaders with this many buyers last week"
    )
    rebuild_page_size: int = Field(default=1000, ge=1, le=5000, description="Events per page read during a rebuild")

    @field_validator("leaders_url", "orders_url", "points_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _churn_after_dormancy(self) -> Settings:
        if self.churned_days <= self.dormant_days:
            raise ValueError("ANALYTICS_CHURNED_DAYS must be greater than ANALYTICS_DORMANT_DAYS")
        return self

    def producer_urls(self) -> dict[str, str]:
        """Where the rebuild reads each producer's outbox."""
        return {"leaders": self.leaders_url, "orders": self.orders_url, "points": self.points_url}


def get_settings() -> Settings:
    return Settings()
