from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from services.common.auth import InvalidToken, MissingPermission, Principal, require_permission
from services.common.db import SessionDep
from services.common.exports import ExportFormat, csv_response, table_endpoint
from services.common.permissions import Permission
from services.common.types import Day
from services.orders.procurement import service
from services.orders.procurement.schemas import PickLists, ProcurementQuery, ProcurementTotals

router = APIRouter(prefix="/api/v1/procurement", tags=["procurement"])

OrdersOperator = Annotated[Principal, Depends(require_permission(Permission.ORDERS_OPERATE))]
PickupDatePath = Annotated[Day, Path(description="The local pickup date, YYYY-MM-DD")]


@table_endpoint(
    router,
    "/{pickup_date}",
    name="procurement_totals",
    response_model=ProcurementTotals,
    summary="Totals per SKU to buy for a pickup date, across all leaders (orders.operate); `?format=csv`",
    errors=(InvalidToken, MissingPermission),
    description="What to buy",
)
async def procurement_totals(
    pickup_date: PickupDatePath,
    session: SessionDep,
    user: OrdersOperator,
    query: Annotated[ProcurementQuery, Query()],
) -> ProcurementTotals | Response:
    """Units of the paid (and later) orders of the date, net of refunds; CSV in UTF-8 with BOM, yuan beside fen."""
    report = await service.totals(session, pickup_date=pickup_date)
    if query.format == ExportFormat.JSON:
        return report
    return csv_response(f"procurement-{pickup_date.isoformat()}", service.COLUMNS, service.totals_rows(report))


@table_endpoint(
    router,
    "/{pickup_date}/pick-lists",
    name="pick_lists",
    response_model=PickLists,
    summary="What to pack for each leader's pickup point on a pickup date (orders.operate); `?format=csv`",
    errors=(InvalidToken, MissingPermission),
    description="What to pack, per leader",
)
async def pick_lists(
    pickup_date: PickupDatePath,
    session: SessionDep,
    user: OrdersOperator,
    query: Annotated[ProcurementQuery, Query()],
) -> PickLists | Response:
    report = await service.pick_lists(session, pickup_date=pickup_date)
    if query.format == ExportFormat.JSON:
        return report
    return csv_response(
        f"pick-lists-{pickup_date.isoformat()}", service.PICK_LIST_COLUMNS, service.pick_list_rows(report)
    )
