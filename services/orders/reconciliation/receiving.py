"""The receiving side of reconciliation: which orders the consumers hold effects for, whatever the orders say.

Starting from the orders alone never finds an effect without a source (a commission accrual for an order that does
not exist, written by a forged event or by hand): nothing on the orders side points at it. So reconciliation also
asks the consumers' books which orders they credited in the range, and checks those orders too; an effect whose
order does not exist, or is not in a state that justifies it, is reported as `orphaned`.

The consumers answer that question themselves (`POST /internal/reconciliation/commission/orders` on leaders: the
orders with accrual or reversal entries; `.../points/orders` on points: with purchase awards or refunds; contract in
`services/common/reconciliation.py`), so the orders service never reads their tables. `HttpReceivingSide`
(`services/orders/clients.py`) asks them, on `app.state.receiving`; the ops route and `groupbuy reconcile` both use
it, so both report the same differences.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.orders.reconciliation.schemas import ReconciledService


class ReceivingSide(Protocol):
    async def orders_with_effects(self, *, since: datetime, until: datetime) -> dict[ReconciledService, set[int]]:
        """Per consumer, the ids of the orders it recorded an effect for in `[since, until)`."""
        ...
