"""Procurement and packing for one pickup date: totals per SKU across leaders (采购汇总) and per-leader pick lists,
from the shipped orders' lines (net of refunds), as JSON or CSV for Excel."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.procurement import repository
from services.orders.procurement.schemas import PickList, PickLists, ProcurementLine, ProcurementTotals


def _line(row: Sequence[Any]) -> ProcurementLine:
    _leader, product_id, sku_id, name, sku_name, unit, units, paid, cost, cost_known, _orders = row
    return ProcurementLine(
        product_id=int(product_id),
        product_name=str(name),
        sku_id=None if sku_id is None else int(sku_id),
        sku_name=sku_name,
        unit=unit,
        quantity=int(units),
        paid_fen=int(paid),
        cost_fen=int(cost) if cost_known else None,
    )


def _merge(lines: Iterable[ProcurementLine]) -> list[ProcurementLine]:
    merged: dict[tuple[int, int | None], ProcurementLine] = {}
    for line in lines:
        key = (line.product_id, line.sku_id)
        found = merged.get(key)
        if found is None:
            merged[key] = line.model_copy()
            continue
        found.quantity += line.quantity
        found.paid_fen += line.paid_fen
        found.cost_fen = None if found.cost_fen is None or line.cost_fen is None else found.cost_fen + line.cost_fen
    return [merged[k] for k in sorted(merged, key=lambda k: (k[0], k[1] or 0))]


async def totals(session: AsyncSession, *, pickup_date: date) -> ProcurementTotals:
    rows = await repository.units_of_date(session, pickup_date)
    orders = await repository.orders_of_date(session, pickup_date)
    lines = [line for line in _merge(_line(r) for r in rows) if line.quantity > 0]
    return ProcurementTotals(pickup_date=pickup_date, orders=len(orders), lines=lines)


async def pick_lists(session: AsyncSession, *, pickup_date: date) -> PickLists:
    rows = await repository.units_of_date(session, pickup_date)
    points: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for leader_id, _order_id, point in await repository.orders_of_date(session, pickup_date):
        points[leader_id] = point
        counts[leader_id] = counts.get(leader_id, 0) + 1
    per_leader: dict[str, list[ProcurementLine]] = {}
    for row in rows:
        line = _line(row)
        if line.quantity > 0:
            per_leader.setdefault(str(row[0]), []).append(line)
    return PickLists(
        pickup_date=pickup_date,
        pick_lists=[
            PickList(
                leader_id=leader_id,
                pickup_point=(points.get(leader_id) or {}).get("name"),
                orders=counts.get(leader_id, 0),
                lines=_merge(lines),
            )
            for leader_id, lines in sorted(per_leader.items())
        ],
    )


#: The columns of both CSVs (the exports add a yuan column beside each `_fen` one).
COLUMNS = ["product_id", "product_name", "sku_id", "sku_name", "unit", "quantity", "paid_fen", "cost_fen"]
PICK_LIST_COLUMNS = ["leader_id", "pickup_point", *COLUMNS]


def totals_rows(report: ProcurementTotals) -> list[dict[str, Any]]:
    return [line.model_dump(include=set(COLUMNS)) for line in report.lines]


def pick_list_rows(report: PickLists) -> list[dict[str, Any]]:
    return [
        {"leader_id": p.leader_id, "pickup_point": p.pickup_point, **line.model_dump(include=set(COLUMNS))}
        for p in report.pick_lists
        for line in p.lines
    ]
