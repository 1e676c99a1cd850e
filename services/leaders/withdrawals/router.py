from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from services.common.app import NowDep
from services.common.auth import (
    InvalidToken,
    LeaderUser,
    MissingPermission,
    MissingRole,
    Principal,
    require_permission,
    signed_in,
)
from services.common.db import SessionDep
from services.common.errors import problem_docs
from services.common.idempotency import (
    IdempotencyKey,
    IdempotencyKeyInProgress,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    run_idempotent,
)
from services.common.pagination import InvalidCursor, Page
from services.common.permissions import Permission
from services.common.types import INT64_MAX
from services.leaders.access import NotYourLeaderAccount
from services.leaders.deps import LeaderIdPath, SettingsDep
from services.leaders.profiles.exceptions import LeaderAccountSuspended
from services.leaders.withdrawals import service
from services.leaders.withdrawals.exceptions import (
    InsufficientBalance,
    PayoutFailed,
    WithdrawalAlreadyDecided,
    WithdrawalBelowMinimum,
    WithdrawalNotFound,
)
from services.leaders.withdrawals.payout import PayoutDep
from services.leaders.withdrawals.schemas import WithdrawalCreate, WithdrawalFilters, WithdrawalRead, WithdrawalReject

router = APIRouter(tags=["withdrawals"])

WithdrawalId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Withdrawal id")]

WithdrawalDeciders = Annotated[Principal, Depends(require_permission(Permission.WITHDRAWALS_DECIDE))]
#: The leader's own withdrawals; staff deciding withdrawals or reading leaders (a manager: their leaders').
WithdrawalReader = Annotated[Principal, Depends(signed_in(Permission.LEADERS_READ, Permission.WITHDRAWALS_DECIDE))]


@router.post(
    "/api/v1/leaders/{leader_id}/withdrawals",
    status_code=201,
    response_model=WithdrawalRead,
    summary="Ask to withdraw available commission (that leader; Idempotency-Key required)",
    responses=problem_docs(
        InvalidToken,
        MissingRole,
        NotYourLeaderAccount,
        LeaderAccountSuspended,
        InsufficientBalance,
        WithdrawalBelowMinimum,
        IdempotencyKeyRequired,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
    ),
)
async def request_withdrawal(
    leader_id: LeaderIdPath,
    body: WithdrawalCreate,
    session: SessionDep,
    user: LeaderUser,
    idempotency: IdempotencyKey,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """The amount leaves `available` at once (409 `INSUFFICIENT_BALANCE` if it does not cover it) and waits in
    `in_withdrawal` for ops to approve (paid out) or reject (returned)."""
    return await run_idempotent(
        session,
        idempotency,
        body,
        lambda: service.request_withdrawal(
            session, user=user, leader_id=leader_id, data=body, minimum_fen=settings.withdrawal_minimum_fen, now=now
        ),
        status_code=201,
    )


@router.get(
    "/api/v1/leaders/{leader_id}/withdrawals",
    response_model=Page[WithdrawalRead],
    summary="The leader's withdrawals, newest first (that leader; staff: leaders.read, withdrawals.decide)",
    responses=problem_docs(InvalidToken, NotYourLeaderAccount, InvalidCursor),
)
async def list_leader_withdrawals(
    leader_id: LeaderIdPath,
    session: SessionDep,
    user: WithdrawalReader,
    filters: Annotated[WithdrawalFilters, Query()],
) -> Page[WithdrawalRead]:
    return await service.list_withdrawals(
        session, user=user, leader_id=leader_id, status=filters.status, page=filters.page_params()
    )


@router.get(
    "/api/v1/withdrawals",
    response_model=Page[WithdrawalRead],
    summary="Every leader's withdrawals, newest first; `?status=requested` is the approval queue "
    "(staff: withdrawals.decide)",
    responses=problem_docs(InvalidToken, MissingPermission, InvalidCursor),
)
async def list_withdrawals(
    session: SessionDep,
    user: WithdrawalDeciders,
    filters: Annotated[WithdrawalFilters, Query()],
) -> Page[WithdrawalRead]:
    return await service.list_withdrawals(
        session, user=user, leader_id=None, status=filters.status, page=filters.page_params()
    )


@router.get(
    "/api/v1/withdrawals/{withdrawal_id}",
    response_model=WithdrawalRead,
    summary="Read a withdrawal (its leader; staff: withdrawals.decide, leaders.read)",
    responses=problem_docs(InvalidToken, WithdrawalNotFound),
)
async def get_withdrawal(withdrawal_id: WithdrawalId, session: SessionDep, user: WithdrawalReader) -> WithdrawalRead:
    return await service.get_withdrawal(session, user=user, withdrawal_id=withdrawal_id)


@router.post(
    "/api/v1/withdrawals/{withdrawal_id}/approve",
    response_model=WithdrawalRead,
    summary="Approve: pay the amount out through the payout provider (staff: withdrawals.decide)",
    responses=problem_docs(InvalidToken, MissingPermission, WithdrawalNotFound, WithdrawalAlreadyDecided, PayoutFailed),
)
async def approve_withdrawal(
    withdrawal_id: WithdrawalId, session: SessionDep, user: WithdrawalDeciders, payout: PayoutDep, now: NowDep
) -> WithdrawalRead:
    return await service.approve_withdrawal(
        session, withdrawal_id=withdrawal_id, decided_by=user.sub, payout=payout, now=now
    )


@router.post(
    "/api/v1/withdrawals/{withdrawal_id}/reject",
    response_model=WithdrawalRead,
    summary="Reject with a reason: the amount returns to available (staff: withdrawals.decide)",
    responses=problem_docs(InvalidToken, MissingPermission, WithdrawalNotFound, WithdrawalAlreadyDecided),
)
async def reject_withdrawal(
    withdrawal_id: WithdrawalId,
    body: WithdrawalReject,
    session: SessionDep,
    user: WithdrawalDeciders,
    now: NowDep,
) -> WithdrawalRead:
    return await service.reject_withdrawal(
        session, withdrawal_id=withdrawal_id, decided_by=user.sub, data=body, now=now
    )
