"""The periodic jobs the orders app schedules; each resource's own `jobs.py` holds the work and its transactions."""

from __future__ import annotations

from services.common.app import BackgroundJob
from services.common.jobs import every
from services.orders.config import Settings
from services.orders.delivery.jobs import delivery_cutoff_job
from services.orders.flash_sales import jobs as flash_jobs
from services.orders.group_buys import jobs as group_buy_jobs
from services.orders.orders.jobs import abandoned_holds_job, orphan_holds_job
from services.orders.payments.jobs import close_trades_job, payment_timeout_job, reconciliation_job, refund_sender_job


def scheduled_jobs(settings: Settings) -> list[BackgroundJob]:
    return [
        every(settings.payment_timeout_interval_seconds, payment_timeout_job),
        every(settings.delivery_cutoff_interval_seconds, delivery_cutoff_job),
        every(settings.refund_interval_seconds, refund_sender_job),
        every(settings.refund_interval_seconds, close_trades_job),
        every(settings.reconciliation_interval_seconds, reconciliation_job),
        every(settings.abandoned_hold_interval_seconds, abandoned_holds_job),
        # A quarter of the grace period: an orphan is released at most 1.25 grace periods after its hold.
        every(settings.orphan_hold_grace_seconds / 4, orphan_holds_job),
        every(flash_jobs.RECOVERY_INTERVAL_SECONDS, flash_jobs.recovery_job),
        every(flash_jobs.CLOSE_INTERVAL_SECONDS, flash_jobs.close_job),
        every(group_buy_jobs.CLOSE_INTERVAL_SECONDS, group_buy_jobs.close_job),
    ]
