"""The receiving side of reconciliation: which orders the consumers hold effects for, whatever the orders say.

Starting from the orders alone never finds an effect without a source (a commission accrual for an order that does
not exist, written by a forged event or by hand): nothing on the orders side points at it. So reconciliation also
asks the consumers' books which orders they credited in the range, and checks those orders too; an effect whose
order does not exist, or is not in a state that justifies it, is reported as `orphaned`.

The consumers have no question for this yet, so the operator's command (`groupbuy reconcile`, which runs with every
service's settings) reads their databases directly, read-only, with the column names of their tables here. Only
the rows' order ids are read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import BigInteger, String, column, select, table
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import UTCDateTime
from services.orders.reconciliation.schemas import ReconciledService


class ReceivingSide(Protocol):
    async def orders_with_effects(self, *, since: datetime, until: datetime) -> dict[ReconciledService, set[int]]:
        """Per consumer, the ids of the orders it recorded an effect for in `[since, until)`."""
        ...


_commission_entries = table(
    "commission_entries",
    column("order_id", BigInteger),
    column("kind", String),
    column("created_at", UTCDateTime),
)
_purchase_awards = table("points_purchase_awards", column("order_id", BigInteger), column("created_at", UTCDateTime))
_points_refunds = table("points_refunds", column("order_id", BigInteger), column("created_at", UTCDateTime))


class ConsumerDatabases:
    """The consumers' own databases, read directly (see the module's docstring)."""

    def __init__(self, *, leaders: AsyncEngine, points: AsyncEngine) -> None:
        self.leaders = leaders
        self.points = points

    async def orders_with_effects(self, *, since: datetime, until: datetime) -> dict[ReconciledService, set[int]]:
        c = _commission_entries.c
        commission = (
            select(c.order_id)
            .where(
                c.order_id.is_not(None),
                c.kind.in_(("accrual", "reversal")),
                c.created_at >= since,
                c.created_at < until,
            )
            .distinct()
        )
        found: dict[ReconciledService, set[int]] = {}
        async with self.leaders.connect() as conn:
            found[ReconciledService.LEADERS] = {int(i) for i in (await conn.execute(commission)).scalars()}
        points: set[int] = set()
        async with self.points.connect() as conn:
            for source in (_purchase_awards, _points_refunds):
                query = (
                    select(source.c.order_id)
                    .where(source.c.created_at >= since, source.c.created_at < until)
                    .distinct()
                )
                points |= {int(i) for i in (await conn.execute(query)).scalars()}
        found[ReconciledService.POINTS] = points
        return found
