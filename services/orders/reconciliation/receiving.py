"""The receiving side of reconciliation: which orders the consumers hold effects for, whatever the orders say.

Starting from the orders alone never finds an effect without a source (a commission accrual for an order that does
not exist, written by a forged event or by hand): nothing on the orders side points at it. So reconciliation also
asks the consumers' books which orders they credited in the range, and checks those orders too; an effect whose
order does not exist, or is not in a state that justifies it, is reported as `orphaned`.

The consumers answer that question themselves (`POST /internal/reconciliation/commission/orders` on leaders: the
orders with accrual or reversal entries; `.../points/orders` on points: with purchase awards or refunds; contract in
`services/common/reconciliation.py`), so the orders service never reads their tables. `HttpReceivingSide`
(below) asks them, on `app.state.receiving`; the ops route and `groupbuy reconcile` both use
it, so both report the same differences.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from services.common.errors import ServiceUnavailable, UpstreamTimeout
from services.common.reconciliation import MAX_PAGE, MAX_RANGE
from services.orders.clients import (
    LeadersTimeout,
    LeadersUnavailable,
    PointsTimeout,
    PointsUnavailable,
    UpstreamClients,
)
from services.orders.reconciliation.schemas import ReconciledService


class ReceivingSide(Protocol):
    async def orders_with_effects(self, *, since: datetime, until: datetime) -> dict[ReconciledService, set[int]]:
        """Per consumer, the ids of the orders it recorded an effect for in `[since, until)`."""
        ...


class HttpReceivingSide:
    """Which orders the leaders and points services recorded effects for in a range, whatever the orders say, for
    reconciliation's receiving side (`POST {url}/internal/reconciliation/commission/orders` and `.../points/orders`).

    The consumers answer at most 31 days and 5000 ids per question, so a longer range is asked window by window and
    each window page by page."""

    def __init__(self, upstream: UpstreamClients, *, leaders_url: str, points_url: str) -> None:
        self._upstream = upstream
        self._leaders_url = leaders_url
        self._points_url = points_url

    async def orders_with_effects(self, *, since: datetime, until: datetime) -> dict[ReconciledService, set[int]]:
        leaders = f"{self._leaders_url}/internal/reconciliation/commission/orders"
        points = f"{self._points_url}/internal/reconciliation/points/orders"
        return {
            ReconciledService.LEADERS: await self._walk(leaders, since, until, LeadersUnavailable, LeadersTimeout),
            ReconciledService.POINTS: await self._walk(points, since, until, PointsUnavailable, PointsTimeout),
        }

    async def _walk(
        self,
        url: str,
        since: datetime,
        until: datetime,
        unavailable: type[ServiceUnavailable],
        timed_out: type[UpstreamTimeout],
    ) -> set[int]:
        found: set[int] = set()
        start = since
        while start < until:
            end = min(until, start + MAX_RANGE)
            after: int | None = None
            while True:
                body: dict[str, Any] = {"since": start.isoformat(), "until": end.isoformat(), "limit": MAX_PAGE}
                if after is not None:
                    body["after"] = after
                page = await self._upstream.ask(url, body, unavailable=unavailable, timed_out=timed_out)
                found.update(int(i) for i in page["order_ids"])
                if page["next_after"] is None:
                    break
                after = int(page["next_after"])
            start = end
        return found
