from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query
from starlette.responses import Response

from services.common.app import NowDep
from services.common.auth import InvalidToken, Principal, signed_in
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.idempotency import (
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    OptionalIdempotencyKey,
    run_idempotent,
)
from services.common.pagination import InvalidCursor, Page
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.orders.aftersales import service
from services.orders.aftersales.exceptions import (
    AfterSaleChanged,
    AfterSaleExceedsPurchase,
    AfterSaleNotFound,
    AfterSaleNotOpen,
    AppealUsed,
    FinanceApprovalRequired,
    NotAfterSaleOwner,
    NotAfterSaleReviewer,
    OverLeaderLimit,
)
from services.orders.aftersales.schemas import (
    AfterSaleCreate,
    AfterSaleQuery,
    AfterSaleRead,
    DecisionNote,
    DecisionReason,
)
from services.orders.deps import SettingsDep
from services.orders.orders.exceptions import (
    AfterSaleWindowClosed,
    LeaderFilterForbidden,
    NotOrderOwner,
    OrderLineNotFound,
    OrderNotFound,
    OrderNotRefundable,
)

router = APIRouter(tags=["after-sales"])
#: The customer, the order's leader, or staff reviewing after-sales (support, finance; finance also decides refunds
#: above the threshold and reads every order).
AfterSaleUser = Annotated[
    Principal,
    Depends(signed_in(Permission.AFTERSALES_REVIEW, Permission.REFUNDS_DECIDE, Permission.ORDERS_READ)),
]

OrderId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Order id")]
RequestId = Annotated[int, Path(ge=1, le=INT64_MAX, description="After-sale request id")]
OptionalNote = Annotated[DecisionNote | None, Body()]


@router.post(
    "/api/v1/orders/{order_id}/after-sales",
    status_code=201,
    response_model=AfterSaleRead,
    summary="Ask for units of some lines back (the order's customer)",
    responses=problem_docs(
        InvalidToken,
        OrderNotFound,
        NotOrderOwner,
        OrderLineNotFound,
        OrderNotRefundable,
        AfterSaleWindowClosed,
        AfterSaleExceedsPurchase,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
    ),
)
async def request_after_sale(
    order_id: OrderId,
    body: AfterSaleCreate,
    session: SessionDep,
    user: AfterSaleUser,
    settings: SettingsDep,
    idempotency: OptionalIdempotencyKey,
    now: NowDep,
) -> Response:
    """The units are reserved at once (409 `AFTER_SALE_EXCEEDS_PURCHASE` beyond what is left to ask for). Small
    requests soon after pickup are `approved` and refunded at once; the others stay `pending` for review. Send an
    `Idempotency-Key` so a retry does not ask twice."""
    policy = service.AfterSalePolicy.of(settings)
    return await run_idempotent(
        session,
        idempotency,
        body,
        lambda: service.request_after_sale(session, order_id=order_id, user=user, data=body, policy=policy, now=now),
        status_code=201,
    )


@router.get(
    "/api/v1/after-sales",
    response_model=Page[AfterSaleRead],
    summary="List after-sale requests, newest first",
    responses=problem_docs(InvalidToken, InvalidCursor, LeaderFilterForbidden),
)
async def list_after_sales(
    query: Annotated[AfterSaleQuery, Query()], session: SessionDep, user: AfterSaleUser, settings: SettingsDep
) -> Page[AfterSaleRead]:
    """Customers see their own; a leader passes `leader_id` = their id for those of their pickup point; support and
    finance see all. `from` and `to` are local dates of the request (inclusive)."""
    return await service.list_requests(session, user=user, query=query, tz=settings.tz)


@router.get(
    "/api/v1/after-sales/{request_id}",
    response_model=AfterSaleRead,
    summary="Read an after-sale request with its history",
    responses=problem_docs(InvalidToken, AfterSaleNotFound),
)
async def get_after_sale(request_id: RequestId, session: SessionDep, user: AfterSaleUser) -> AfterSaleRead:
    return await service.get_request(session, request_id=request_id, user=user)


_DECISION_ERRORS = (InvalidToken, AfterSaleNotFound, NotAfterSaleReviewer, AfterSaleNotOpen, AfterSaleChanged)


@router.post(
    "/api/v1/after-sales/{request_id}/approve",
    response_model=AfterSaleRead,
    summary="Approve and refund (the order's leader up to their limit; after-sale staff)",
    responses=problem_docs(*_DECISION_ERRORS, OverLeaderLimit, FinanceApprovalRequired),
)
async def approve_after_sale(
    request_id: RequestId,
    session: SessionDep,
    user: AfterSaleUser,
    settings: SettingsDep,
    now: NowDep,
    body: OptionalNote = None,
) -> AfterSaleRead:
    """The refund is issued at once, exactly once; the request is `refunded` when the provider has paid it back.
    Above `ORDERS_AFTER_SALE_FINANCE_THRESHOLD_FEN` only finance (`refunds.decide`) approves."""
    return await service.approve(
        session,
        request_id=request_id,
        user=user,
        reason=body.reason if body else None,
        policy=service.AfterSalePolicy.of(settings),
        now=now,
    )


@router.post(
    "/api/v1/after-sales/{request_id}/reject",
    response_model=AfterSaleRead,
    summary="Reject with a reason (after-sale staff)",
    responses=problem_docs(*_DECISION_ERRORS),
)
async def reject_after_sale(
    request_id: RequestId, body: DecisionReason, session: SessionDep, user: AfterSaleUser, now: NowDep
) -> AfterSaleRead:
    """The reserved units are released; the customer may appeal once."""
    return await service.reject(session, request_id=request_id, user=user, reason=body.reason, now=now)


@router.post(
    "/api/v1/after-sales/{request_id}/escalate",
    response_model=AfterSaleRead,
    summary="Pass a pending request on to staff (the order's leader; after-sale staff)",
    responses=problem_docs(*_DECISION_ERRORS),
)
async def escalate_after_sale(
    request_id: RequestId, session: SessionDep, user: AfterSaleUser, now: NowDep, body: OptionalNote = None
) -> AfterSaleRead:
    return await service.escalate(
        session, request_id=request_id, user=user, reason=body.reason if body else None, now=now
    )


@router.post(
    "/api/v1/after-sales/{request_id}/appeal",
    response_model=AfterSaleRead,
    summary="Appeal a rejection, once (the customer)",
    responses=problem_docs(
        InvalidToken,
        AfterSaleNotFound,
        NotAfterSaleOwner,
        AfterSaleNotOpen,
        AfterSaleChanged,
        AppealUsed,
        AfterSaleExceedsPurchase,
    ),
)
async def appeal_after_sale(
    request_id: RequestId, body: DecisionReason, session: SessionDep, user: AfterSaleUser, now: NowDep
) -> AfterSaleRead:
    """The units are reserved again and staff decide anew; a second rejection is final."""
    return await service.appeal(session, request_id=request_id, user=user, reason=body.reason, now=now)
