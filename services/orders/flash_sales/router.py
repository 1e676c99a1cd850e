from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.datastructures import State
from starlette.responses import Response

from services.common.app import NowDep, from_app_state
from services.common.auth import (
    CurrentUser,
    InvalidToken,
    MissingPermission,
    MissingRole,
    Principal,
    Role,
    require_permission,
    require_roles,
)
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.idempotency import (
    IdempotencyContext,
    IdempotencyKeyInProgress,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    OptionalIdempotencyKey,
    caller_with_key,
    run_idempotent,
)
from services.common.pagination import InvalidCursor, Page, PageQuery
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.clients import LeadersTimeout, LeadersUnavailable
from services.orders.config import Settings
from services.orders.flash_sales import service
from services.orders.flash_sales.exceptions import (
    FlashSaleLimitReached,
    FlashSaleNotActive,
    FlashSaleNotFound,
    FlashSaleSoldOut,
    NotEnoughProductStock,
)
from services.orders.flash_sales.runtime import FlashRuntime
from services.orders.flash_sales.schemas import FlashOrderCreate, FlashSaleCreate, FlashSaleRead, ReconciliationReport
from services.orders.orders.exceptions import LeaderNotActive, UnknownLeader
from services.orders.orders.schemas import OrderRead
from services.orders.products.exceptions import ProductNotFound

FlashDep = Annotated[FlashRuntime, Depends(from_app_state("flash"))]

router = APIRouter(prefix="/api/v1/flash-sales", tags=["flash-sales"])


CatalogueStaff = Annotated[Principal, Depends(require_permission(Permission.CATALOGUE_MANAGE))]

SaleId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Flash sale id")]
#: Who may buy: customers. The purchase lane (`lane.py`) applies the same rule before FastAPI.
BUYERS = require_roles(Role.CUSTOMER)
#: A customer and the Idempotency-Key of their purchase, in one dependency.
FlashBuyer = Annotated[IdempotencyContext, Depends(caller_with_key(BUYERS))]


# The purchase first: routing tries routes in order, and it is the busiest one.
@router.post(
    "/{sale_id}/orders",
    status_code=201,
    response_model=OrderRead,
    summary="Buy in a flash sale (customer)",
    responses=problem_docs(
        InvalidToken,
        MissingRole,
        IdempotencyKeyRequired,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
        FlashSaleNotFound,
        FlashSaleSoldOut,
        FlashSaleLimitReached,
        FlashSaleNotActive,
        UnknownLeader,
        LeaderNotActive,
        LeadersUnavailable,
        LeadersTimeout,
    ),
)
async def buy(sale_id: SaleId, body: FlashOrderCreate, request: Request, idempotency: FlashBuyer) -> Response:
    """Creates an ordinary order at the sale price, to be paid within `ORDERS_FLASH_PAYMENT_TIMEOUT_SECONDS`.

    Once this process knows the sale is sold out it answers 409 `FLASH_SALE_SOLD_OUT` from memory (no database,
    no Redis), even for a retried key; a buyer who already won finds the order in `GET /api/v1/orders`."""
    # Well-formed purchases are answered by the purchase lane in front of FastAPI (`lane.py`), with `purchase`;
    # this route answers the rest, and documents the operation.
    return await purchase(request.app.state, sale_id, body, idempotency)


async def purchase(state: State, sale_id: int, body: FlashOrderCreate, idempotency: IdempotencyContext) -> Response:
    """The purchase, with the app's objects read straight from `app.state` (the busiest path solves nothing)."""
    settings: Settings = state.settings
    return await service.buy(
        sale_id=sale_id,
        data=body,
        idempotency=idempotency,
        flash=state.flash,
        batcher=state.flash_batcher,
        db=state.db,
        leaders=state.leaders,
        payment_timeout_seconds=settings.flash_payment_timeout_seconds,
        now=state.clock(),
    )


@router.post(
    "",
    status_code=201,
    response_model=FlashSaleRead,
    summary="Create a flash sale (staff: catalogue.manage)",
    responses=problem_docs(
        InvalidToken, MissingPermission, ProductNotFound, NotEnoughProductStock, IdempotencyKeyReused
    ),
)
async def create_sale(
    body: FlashSaleCreate, session: SessionDep, user: CatalogueStaff, idempotency: OptionalIdempotencyKey, now: NowDep
) -> Response:
    """The sale's stock is taken from the product's stock when the sale is created."""
    return await run_idempotent(
        session, idempotency, body, lambda: service.create_sale(session, data=body, created_by=user.sub, now=now)
    )


@router.get(
    "",
    response_model=Page[FlashSaleRead],
    summary="List flash sales, newest first",
    responses=problem_docs(InvalidToken, InvalidCursor),
)
async def list_sales(session: SessionDep, user: CurrentUser, page: PageQuery) -> Page[FlashSaleRead]:
    return await service.list_sales(session, page=page)


@router.get(
    "/{sale_id}",
    response_model=FlashSaleRead,
    summary="Read one flash sale",
    responses=problem_docs(InvalidToken, FlashSaleNotFound),
)
async def get_sale(sale_id: SaleId, session: SessionDep, user: CurrentUser) -> FlashSaleRead:
    return await service.get_sale(session, sale_id=sale_id)


@router.post(
    "/{sale_id}/end",
    response_model=FlashSaleRead,
    summary="End a flash sale now (staff: catalogue.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, FlashSaleNotFound),
)
async def end_sale(
    sale_id: SaleId, session: SessionDep, user: CatalogueStaff, flash: FlashDep, now: NowDep
) -> FlashSaleRead:
    """No purchase succeeds once this answers, in any process. A sale not started yet will not start; one already
    over is returned as it is. The unsold units go back to the product a few minutes later (`closed_at`)."""
    return await service.end_sale(session, sale_id=sale_id, flash=flash, ended_by=user.sub, now=now)


@router.get(
    "/{sale_id}/reconciliation",
    response_model=ReconciliationReport,
    summary="Compare the sale's stock in Redis and in the database (staff: catalogue.manage)",
    responses=problem_docs(InvalidToken, MissingPermission, FlashSaleNotFound),
)
async def reconcile(
    sale_id: SaleId, session: SessionDep, user: CatalogueStaff, flash: FlashDep
) -> ReconciliationReport:
    return await service.reconcile(session, sale_id=sale_id, flash=flash)
