from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response, StreamingResponse

from services.common import audit
from services.common.app import NowDep
from services.common.auth import InvalidToken, MissingPermission, Principal, ServiceNotAllowed, require_service
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.exports import CSV_MEDIA_TYPE, ExportFormat, table_endpoint
from services.common.pagination import InvalidCursor, NoParams, Page
from services.common.reconciliation import OrdersWithEffects, OrdersWithEffectsRequest
from services.leaders.access import NotYourLeaderAccount
from services.leaders.commission import jobs, service, statements
from services.leaders.commission.exceptions import CommissionAccountNotFound, InvalidPeriod
from services.leaders.commission.schemas import (
    Balance,
    EntryFilters,
    EntryRead,
    ReconciliationRequest,
    ReconciliationResult,
    RuleCreate,
    RuleList,
    RuleRead,
    SettlementResult,
    Statement,
    StatementQuery,
)
from services.leaders.db import outbox
from services.leaders.deps import CommissionAdmin, DatabaseDep, LeaderDataReader, LeaderIdPath, SettingsDep
from services.leaders.ladder.exceptions import LevelNotFound

router = APIRouter(tags=["commission"])
internal_router = APIRouter(prefix="/internal/reconciliation", tags=["internal"])

OrdersService = Annotated[Principal, Depends(require_service("orders"))]

PeriodPath = Annotated[
    str, Path(pattern=r"^[0-9]{4}-[0-9]{2}$", description="Month in the business time zone, YYYY-MM")
]


@router.post(
    "/api/v1/commission/rules",
    status_code=201,
    response_model=RuleRead,
    summary="Add a commission rule (staff: commission.manage); it never changes commission already accrued",
    responses=problem_docs(InvalidToken, MissingPermission, LevelNotFound),
)
async def create_rule(body: RuleCreate, session: SessionDep, user: CommissionAdmin, now: NowDep) -> RuleRead:
    """Scope `default`, `level` (with `level`) or `product` (with `product_id`); mode `percentage` (`rate_bp`) or
    `per_item` (`amount_fen`); `effective_from` defaults to now. A later rule of the same scope replaces it."""
    return await service.create_rule(session, data=body, created_by=user.sub, now=now)


@router.get(
    "/api/v1/commission/rules",
    response_model=RuleList,
    summary="The rules in effect now and those scheduled (staff: commission.manage)",
    responses=problem_docs(InvalidToken, MissingPermission),
)
async def list_rules(session: SessionDep, user: CommissionAdmin, now: NowDep, _: NoParams) -> RuleList:
    return await service.list_rules(session, now=now)


@router.post(
    "/api/v1/commission/settle",
    response_model=SettlementResult,
    summary="Settle now: pending commission past its freeze becomes available (staff: commission.manage; idempotent)",
    responses=problem_docs(InvalidToken, MissingPermission),
)
async def settle(db: DatabaseDep, user: CommissionAdmin, settings: SettingsDep, now: NowDep) -> SettlementResult:
    """The same settlement the periodic job runs."""
    result = await jobs.settle_due(db, freeze_days=settings.commission_freeze_days, tz=settings.tz, now=now)
    await audit.record_run(
        db, outbox, actor=user, action="commission.settled", target=("settlement", result.cutoff.isoformat()),
        result=result, at=now,
    )  # fmt: skip
    return result


@router.get(
    "/api/v1/leaders/{leader_id}/commission/balance",
    response_model=Balance,
    summary="Pending, available, in-withdrawal and withdrawn commission (that leader; staff: leaders.read)",
    responses=problem_docs(InvalidToken, NotYourLeaderAccount, CommissionAccountNotFound),
)
async def get_balance(leader_id: LeaderIdPath, session: SessionDep, user: LeaderDataReader) -> Balance:
    return await service.get_balance(session, user=user, leader_id=leader_id)


@router.get(
    "/api/v1/leaders/{leader_id}/commission/entries",
    response_model=Page[EntryRead],
    summary="Ledger entries, newest first (that leader; staff: leaders.read)",
    responses=problem_docs(InvalidToken, NotYourLeaderAccount, CommissionAccountNotFound, InvalidCursor),
)
async def list_entries(
    leader_id: LeaderIdPath,
    session: SessionDep,
    user: LeaderDataReader,
    filters: Annotated[EntryFilters, Query()],
) -> Page[EntryRead]:
    return await service.list_entries(
        session, user=user, leader_id=leader_id, page=filters.page_params(), kind=filters.kind
    )


@table_endpoint(
    router,
    "/api/v1/leaders/{leader_id}/commission/statements/{period}",
    name="get_statement",
    response_model=Statement,
    summary="Monthly statement: totals, opening and closing balances, lines; `?format=csv` for Excel",
    errors=(InvalidToken, NotYourLeaderAccount, CommissionAccountNotFound, InvalidPeriod, InvalidCursor),
    description="The statement",
)
async def get_statement(
    leader_id: LeaderIdPath,
    period: PeriodPath,
    session: SessionDep,
    user: LeaderDataReader,
    settings: SettingsDep,
    db: DatabaseDep,
    query: Annotated[StatementQuery, Query()],
) -> Statement | Response:
    """Lines are paginated in JSON (`limit`, `cursor`); the CSV holds all of them, UTF-8 with BOM, yuan beside fen."""
    statement = await statements.get_statement(
        session, user=user, leader_id=leader_id, period=period, tz=settings.tz, page=query.page_params()
    )
    if query.format == ExportFormat.JSON:
        return statement
    return StreamingResponse(
        statements.statement_csv(db, statement=statement, tz=settings.tz),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="commission-{leader_id}-{period}.csv"'},
    )


@internal_router.post(
    "/commission",
    response_model=ReconciliationResult,
    summary="Count the accrual and reversal entries of these orders, for reconciliation (the orders service)",
    responses=problem_docs(InvalidToken, ServiceNotAllowed),
)
async def reconcile_commission(
    body: ReconciliationRequest, session: SessionDep, user: OrdersService
) -> ReconciliationResult:
    return await service.reconcile(session, order_ids=body.order_ids)


@internal_router.post(
    "/commission/orders",
    response_model=OrdersWithEffects,
    summary="The orders with accrual or reversal entries created in a range, for reconciliation (the orders service)",
    responses=problem_docs(InvalidToken, ServiceNotAllowed),
)
async def orders_with_commission(
    body: OrdersWithEffectsRequest, session: SessionDep, user: OrdersService
) -> OrdersWithEffects:
    """`[since, until)` of at most 31 days (422 otherwise); paged by order id: ask again with `after` set to
    `next_after` until it is null."""
    return await service.orders_with_effects(session, body)
