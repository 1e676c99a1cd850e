from __future__ import annotations

import pytest

from services.points.config import Settings


def test_points_settings_come_from_points_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POINTS_HOLD_TTL_SECONDS", "120")
    monkeypatch.setenv("POINTS_JOBS_INTERVAL_SECONDS", "5")
    monkeypatch.setenv("POINTS_EXPIRING_WINDOW_DAYS", "7")
    monkeypatch.setenv("BUSINESS_TIMEZONE", "Asia/Shanghai")
    settings = Settings()
    assert (settings.hold_ttl_seconds, settings.jobs_interval_seconds, settings.expiring_window_days) == (120, 5, 7)
    assert Settings.model_fields["hold_ttl_seconds"].default == 3600


def test_a_hold_ttl_below_a_minute_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POINTS_HOLD_TTL_SECONDS", "5")
    with pytest.raises(ValueError, match="hold_ttl_seconds"):
        Settings()
