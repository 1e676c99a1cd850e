from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from services.common.app import NowDep
from services.common.auth import CustomerUser, InvalidToken, MissingRole, Principal, signed_in
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.idempotency import (
    IdempotencyKey,
    IdempotencyKeyInProgress,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    OptionalIdempotencyKey,
    run_idempotent,
)
from services.common.pagination import InvalidCursor, NoParams, Page
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.clients import (
    HoldConflict,
    InsufficientPoints,
    LeadersTimeout,
    LeadersUnavailable,
    PointsNotUsable,
    PointsTimeout,
    PointsUnavailable,
)
from services.orders.deps import AfterDep, DatabaseDep, InventoryDep, LeadersDep, PointsDep, SettingsDep
from services.orders.orders import service
from services.orders.orders.exceptions import (
    AfterSaleRequired,
    CustomerFilterForbidden,
    DuplicateProduct,
    GroupBuyLimitReached,
    GroupBuyNotInRegion,
    GroupBuyNotOpen,
    GroupBuyUnavailable,
    InvalidOrderState,
    LeaderAccountSuspended,
    LeaderFilterForbidden,
    LeaderNotActive,
    NotInGroupBuy,
    NotOrderLeader,
    NotOrderOwner,
    OrderLineNotFound,
    OrderNotCancellable,
    OrderNotFound,
    OrderNotRefundable,
    OutOfStock,
    PickupLocked,
    ProductNotOnSale,
    ProductUnavailable,
    QuantityTooLarge,
    RefundExceedsPurchase,
    SkuRequired,
    SkuUnavailable,
    TooManyLines,
    TooManyUnpaidOrders,
    TooManyUnpaidUnits,
    UnknownLeader,
    WrongPickupCode,
)
from services.orders.orders.schemas import (
    OrderCreate,
    OrderFilters,
    OrderLogEntry,
    OrderRead,
    PickupRequest,
    RefundCreate,
    RefundRead,
)

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

#: The customer, the order's leader, or staff with the permission named (they act on any order).
OrderReader = Annotated[Principal, Depends(signed_in(Permission.ORDERS_READ))]
OrderOperator = Annotated[Principal, Depends(signed_in(Permission.ORDERS_OPERATE))]
OrderRefunder = Annotated[Principal, Depends(signed_in(Permission.REFUNDS_DECIDE))]

OrderId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Order id")]


@router.post(
    "",
    status_code=201,
    response_model=OrderRead,
    summary="Place an order (customer)",
    responses=problem_docs(
        InvalidToken,
        MissingRole,
        IdempotencyKeyRequired,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
        UnknownLeader,
        LeaderNotActive,
        ProductUnavailable,
        OutOfStock,
        ProductNotOnSale,
        SkuRequired,
        SkuUnavailable,
        GroupBuyUnavailable,
        GroupBuyNotOpen,
        GroupBuyNotInRegion,
        NotInGroupBuy,
        GroupBuyLimitReached,
        DuplicateProduct,
        TooManyLines,
        QuantityTooLarge,
        TooManyUnpaidOrders,
        TooManyUnpaidUnits,
        InsufficientPoints,
        HoldConflict,
        PointsNotUsable,
        PointsUnavailable,
        PointsTimeout,
        LeadersUnavailable,
        LeadersTimeout,
    ),
)
async def create_order(
    body: OrderCreate,
    session: SessionDep,
    user: CustomerUser,
    idempotency: IdempotencyKey,
    settings: SettingsDep,
    leaders: LeadersDep,
    points: PointsDep,
    after: AfterDep,
    db: DatabaseDep,
    now: NowDep,
) -> Response:
    """Reserve stock at today's prices, hold the points to spend, and wait for payment until `expires_at`."""
    limits = service.OrderLimits(
        max_lines=settings.max_lines_per_order,
        max_quantity_per_line=settings.max_quantity_per_line,
        payment_timeout_seconds=settings.payment_timeout_seconds,
        tz=settings.tz,
        cutoff=settings.cutoff_time,
        max_unpaid_orders=settings.max_unpaid_orders_per_customer,
        max_unpaid_units=settings.max_unpaid_units_per_customer,
    )
    return await run_idempotent(
        session,
        idempotency,
        body,
        lambda: service.create_order(
            session,
            customer_id=user.sub,
            data=body,
            leaders=leaders,
            points=points,
            after=after,
            db=db,
            limits=limits,
            now=now,
        ),
        status_code=201,
    )


@router.get(
    "",
    response_model=Page[OrderRead],
    summary="List orders, newest first",
    responses=problem_docs(InvalidToken, InvalidCursor, LeaderFilterForbidden, CustomerFilterForbidden),
)
async def list_orders(
    session: SessionDep, user: OrderReader, filters: Annotated[OrderFilters, Query()]
) -> Page[OrderRead]:
    """Customers see their own orders; a leader passes `leader_id` = their id to see orders at their pickup
    point (e.g. `status=ready_for_pickup` for those waiting there); staff with `orders.read` see everything and
    may filter by `customer_id`. `total` is null: counting every order of a filter would scan the orders table."""
    return await service.list_orders(session, user=user, page=filters.page_params(), filters=filters)


@router.get(
    "/{order_id}",
    response_model=OrderRead,
    summary="Read one order",
    responses=problem_docs(InvalidToken, OrderNotFound),
)
async def get_order(order_id: OrderId, session: SessionDep, user: OrderReader) -> OrderRead:
    """The owner, the order's leader and staff with `orders.read` can read it; only the owner sees the pickup
    code."""
    return await service.get_order(session, order_id=order_id, user=user)


@router.get(
    "/{order_id}/log",
    response_model=list[OrderLogEntry],
    summary="Who moved the order to which state, when",
    responses=problem_docs(InvalidToken, OrderNotFound),
)
async def get_order_log(order_id: OrderId, session: SessionDep, user: OrderReader, _: NoParams) -> list[OrderLogEntry]:
    return await service.order_log(session, order_id=order_id, user=user)


@router.post(
    "/{order_id}/cancel",
    response_model=OrderRead,
    summary="Cancel an unpaid order (owner; staff: orders.operate)",
    responses=problem_docs(InvalidToken, OrderNotFound, NotOrderOwner, OrderNotCancellable),
)
async def cancel_order(
    order_id: OrderId, session: SessionDep, user: OrderOperator, inventory: InventoryDep, now: NowDep
) -> OrderRead:
    """Stock and held points come back exactly once, even if the payment timeout cancels at the same moment."""
    return await service.cancel_order(session, order_id=order_id, user=user, inventory=inventory, now=now)


@router.post(
    "/{order_id}/arrive",
    response_model=OrderRead,
    summary="Mark a paid order as arrived at the pickup point (its active leader; staff: orders.operate)",
    responses=problem_docs(
        InvalidToken, OrderNotFound, NotOrderLeader, LeaderAccountSuspended, InvalidOrderState, LeadersUnavailable
    ),
)
async def arrive(
    order_id: OrderId, session: SessionDep, user: OrderOperator, leaders: LeadersDep, now: NowDep
) -> OrderRead:
    return await service.mark_arrived(session, order_id=order_id, user=user, leaders=leaders, now=now)


@router.post(
    "/{order_id}/pickup",
    response_model=OrderRead,
    summary="Hand the goods over against the pickup code (the order's active leader; staff: orders.operate)",
    responses=problem_docs(
        InvalidToken, OrderNotFound, NotOrderLeader, LeaderAccountSuspended, InvalidOrderState, WrongPickupCode,
        PickupLocked, LeadersUnavailable,
    ),
)  # fmt: skip
async def pickup(
    order_id: OrderId,
    body: PickupRequest,
    session: SessionDep,
    user: OrderOperator,
    leaders: LeadersDep,
    settings: SettingsDep,
    now: NowDep,
) -> OrderRead:
    """A wrong code is 422 `WRONG_PICKUP_CODE`; after too many the order is locked (423 `PICKUP_LOCKED`)."""
    return await service.pickup(
        session,
        order_id=order_id,
        user=user,
        leaders=leaders,
        code=body.pickup_code,
        max_attempts=settings.pickup_max_attempts,
        lock_seconds=settings.pickup_lock_seconds,
        now=now,
    )


@router.post(
    "/{order_id}/refunds",
    status_code=201,
    response_model=RefundRead,
    summary="Refund units of some lines at once (owner before delivery; staff: refunds.decide)",
    responses=problem_docs(
        InvalidToken,
        OrderNotFound,
        NotOrderOwner,
        OrderLineNotFound,
        RefundExceedsPurchase,
        OrderNotRefundable,
        AfterSaleRequired,
        IdempotencyKeyReused,
    ),
)
async def refund_order(
    order_id: OrderId,
    body: RefundCreate,
    session: SessionDep,
    user: OrderRefunder,
    idempotency: OptionalIdempotencyKey,
    now: NowDep,
) -> Response:
    """Money and spent points come back in proportion to what was paid per line; send an `Idempotency-Key`.
    A customer refunds at once only while the order is paid and not yet in a delivery batch; afterwards the answer
    is 409 `AFTER_SALE_REQUIRED` naming `POST /api/v1/orders/{order_id}/after-sales`. Staff with the
    `refunds.decide` permission refund directly at any time after payment; who and why go to the order log."""
    return await run_idempotent(
        session,
        idempotency,
        body,
        lambda: service.refund_order(session, order_id=order_id, user=user, data=body, now=now),
        status_code=201,
    )


@router.get(
    "/{order_id}/refunds",
    response_model=list[RefundRead],
    summary="Refunds of an order",
    responses=problem_docs(InvalidToken, OrderNotFound),
)
async def list_refunds(order_id: OrderId, session: SessionDep, user: OrderReader, _: NoParams) -> list[RefundRead]:
    return await service.list_refunds(session, order_id=order_id, user=user)
