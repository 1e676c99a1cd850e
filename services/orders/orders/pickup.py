"""The pickup date of an order outside a group-buy (今日下单，明日自提): the day after the next daily cut-off.

An order placed before today's cut-off (`ORDERS_DELIVERY_CUTOFF`, business time zone) is picked up tomorrow; one
placed at or after it, the day after tomorrow. A group-buy order takes the group-buy's pickup date instead.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def next_pickup_date(now: datetime, tz: ZoneInfo, cutoff: time) -> date:
    local = now.astimezone(tz)
    cutoff_day = local.date() if local.time() < cutoff else local.date() + timedelta(days=1)
    return cutoff_day + timedelta(days=1)
