"""After-sale requests: a review between a customer's request and the money.

A customer asks for units of some lines back, with a reason code, a description and photos. The units are reserved
on the order lines at once (a guarded update: requests on one line can never add up to more than was bought and not
refunded), so they stay out of every other refund while the request is open. Then the policy decides:

- approved at once when the amount is at most `auto_approve_limit_fen`, the request comes within
  `auto_approve_hours` of pickup (or before pickup), and the customer's approvals of the last 30 days plus this one
  stay within `auto_approve_cap_fen`;
- otherwise pending: the order's leader approves up to `leader_limit_fen` or escalates; staff who review after-sales
  (support, finance) approve or reject with a reason, above `finance_threshold_fen` only finance approves; a rejected
  customer may appeal once.

Money moves only on approval, through `orders.service.issue_refund` keyed `after_sale:<id>`, so it is refunded once;
the request becomes `refunded` when the refund sender has paid it back. Every decision names the status it expects:
two people deciding at once resolve to exactly one decision. Nobody decides their own request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.common.auth import Principal
from services.common.events.contract import (
    AFTERSALE_DECIDED,
    AFTERSALE_REFUNDED,
    AFTERSALE_REQUESTED,
    AfterSaleDecided,
    AfterSaleLineAsked,
    AfterSaleRefunded,
    AfterSaleRequested,
)
from services.common.pagination import Page
from services.common.permissions import Permission
from services.orders.aftersales import repository
from services.orders.aftersales.access import readable_request, reads_every_request
from services.orders.aftersales.exceptions import (
    AfterSaleChanged,
    AfterSaleExceedsPurchase,
    AfterSaleNotOpen,
    AppealUsed,
    FinanceApprovalRequired,
    NotAfterSaleOwner,
    NotAfterSaleReviewer,
    OverLeaderLimit,
)
from services.orders.aftersales.models import (
    OPEN_STATUSES,
    AfterSaleAction,
    AfterSaleActor,
    AfterSaleDecision,
    AfterSaleLine,
    AfterSaleRequest,
    AfterSaleStatus,
)
from services.orders.aftersales.schemas import (
    AfterSaleCreate,
    AfterSaleDecisionRead,
    AfterSaleLineIn,
    AfterSaleLineRead,
    AfterSaleQuery,
    AfterSaleRead,
)
from services.orders.config import Settings
from services.orders.db import outbox
from services.orders.orders import repository as orders_repository
from services.orders.orders import service as orders_service
from services.orders.orders.access import readable_order
from services.orders.orders.allocation import cumulative_share
from services.orders.orders.exceptions import (
    AfterSaleWindowClosed,
    LeaderFilterForbidden,
    NotOrderOwner,
    OrderLineNotFound,
    OrderNotRefundable,
)
from services.orders.orders.models import Order, RefundProviderStatus

SYSTEM = "system"
#: The span of the customer's approvals the automatic approval cap counts.
CAP_DAYS = 30


@dataclass(frozen=True, slots=True)
class AfterSalePolicy:
    after_sale_days: int
    auto_approve_limit_fen: int
    auto_approve_hours: int
    auto_approve_cap_fen: int
    leader_limit_fen: int
    finance_threshold_fen: int

    @classmethod
    def of(cls, settings: Settings) -> AfterSalePolicy:
        return cls(
            after_sale_days=settings.after_sale_days,
            auto_approve_limit_fen=settings.after_sale_auto_approve_limit_fen,
            auto_approve_hours=settings.after_sale_auto_approve_hours,
            auto_approve_cap_fen=settings.after_sale_auto_approve_cap_fen,
            leader_limit_fen=settings.after_sale_leader_limit_fen,
            finance_threshold_fen=settings.after_sale_finance_threshold_fen,
        )


def _rid(request: AfterSaleRequest) -> int:
    assert request.id is not None
    return request.id


def _to_read(
    request: AfterSaleRequest, lines: Sequence[AfterSaleLine], decisions: Sequence[AfterSaleDecision]
) -> AfterSaleRead:
    return AfterSaleRead(
        id=_rid(request),
        order_id=request.order_id,
        customer_id=request.customer_id,
        leader_id=request.leader_id,
        status=request.status,
        reason=request.reason,
        description=request.description,
        images=list(request.images),
        lines=[AfterSaleLineRead.model_validate(line) for line in lines],
        amount_fen=request.amount_fen,
        refund_id=request.refund_id,
        refunded_fen=request.refunded_fen,
        decided_by=request.decided_by,
        decision_reason=request.decision_reason,
        can_appeal=request.status == AfterSaleStatus.REJECTED and request.appealed_at is None,
        history=[AfterSaleDecisionRead.model_validate(d) for d in decisions],
        created_at=request.created_at,
        updated_at=request.updated_at,
        decided_at=request.decided_at,
        appealed_at=request.appealed_at,
        approved_at=request.approved_at,
        refunded_at=request.refunded_at,
    )


async def _read(session: AsyncSession, request_id: int) -> AfterSaleRead:
    request = await repository.get_request(session, request_id)
    assert request is not None, "requests are never deleted"
    return _to_read(
        request,
        await repository.lines_of(session, [request_id]),
        await repository.decisions_of(session, [request_id]),
    )


async def _record(
    session: AsyncSession,
    request: AfterSaleRequest,
    *,
    action: AfterSaleAction,
    from_status: AfterSaleStatus,
    to_status: AfterSaleStatus,
    actor: str,
    role: AfterSaleActor,
    reason: str | None,
    now: datetime,
) -> None:
    """The decision log entry and the analytics event of one step, in the transaction of the step."""
    request_id = _rid(request)
    await repository.add_decision(
        session,
        AfterSaleDecision(
            request_id=request_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            actor_role=role,
            reason=reason,
            created_at=now,
        ),
    )
    payload = AfterSaleDecided(
        after_sale_id=request_id,
        order_id=request.order_id,
        customer_id=request.customer_id,
        leader_id=request.leader_id,
        decision=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        actor_role=role,
        reason=reason,
        amount_fen=request.amount_fen,
        decided_at=now,
    )
    # The order's aggregate: the request's events reach consumers in order with the order's own (its refund).
    await outbox.record(
        session, type=AFTERSALE_DECIDED, aggregate=f"order:{request.order_id}", data=payload.model_dump(mode="json")
    )
    if role == AfterSaleActor.STAFF:
        await audit.record(
            session, outbox, actor=actor, action=f"after_sale.{action}", target=("after_sale", request_id),
            before={"status": from_status}, after={"status": to_status, "amount_fen": request.amount_fen},
            at=now,
        )  # fmt: skip


def _merge(lines: Sequence[AfterSaleLineIn]) -> dict[int, int]:
    asked: dict[int, int] = {}
    for item in lines:
        asked[item.line_id] = asked.get(item.line_id, 0) + item.quantity
    return asked


# -- asking ----------------------------------------------------------------------------------------------------------


async def request_after_sale(
    session: AsyncSession,
    *,
    order_id: int,
    user: Principal,
    data: AfterSaleCreate,
    policy: AfterSalePolicy,
    now: datetime,
) -> AfterSaleRead:
    """Reserve the units and record the request; approve and refund it at once when the policy allows."""
    order = await readable_order(session, order_id, user, for_update=True)
    if order.customer_id != user.sub:
        raise NotOrderOwner(f"Only the customer who placed order {order_id} may ask for an after-sale refund")
    if order.status not in orders_service.REFUNDABLE:
        raise OrderNotRefundable(f"Order {order_id} is {order.status}")
    if order.picked_up_at is not None and now > order.picked_up_at + timedelta(days=policy.after_sale_days):
        raise AfterSaleWindowClosed(f"After-sale requests end {policy.after_sale_days} days after pickup")

    order_lines = {line.id: line for line in await orders_repository.get_lines(session, order_id)}
    asked = _merge(data.lines)
    lines: list[AfterSaleLine] = []
    for line_id in sorted(asked):  # ascending, like every writer of order lines
        line = order_lines.get(line_id)
        if line is None:
            raise OrderLineNotFound(f"Order {order_id} has no line {line_id}")
        quantity = asked[line_id]
        if not await orders_repository.reserve_line_units(session, line_id=line_id, quantity=quantity):
            left = line.quantity - line.refunded_quantity - line.reserved_quantity
            raise AfterSaleExceedsPurchase(f"Line {line_id}: {max(left, 0)} units left to ask for, {quantity} asked")
        # What these units would return if refunded now, after the units already refunded or asked for.
        taken = line.refunded_quantity + line.reserved_quantity
        lines.append(
            AfterSaleLine(
                request_id=0,
                line_id=line_id,
                product_id=line.product_id,
                product_name=line.product_name,
                quantity=quantity,
                amount_fen=cumulative_share(line.paid_fen, line.quantity, taken, quantity),
            )
        )
    request = AfterSaleRequest(
        order_id=order_id,
        customer_id=order.customer_id,
        leader_id=order.leader_id,
        status=AfterSaleStatus.PENDING,
        reason=data.reason,
        description=data.description or None,
        images=list(data.images),
        amount_fen=sum(line.amount_fen for line in lines),
        created_at=now,
        updated_at=now,
    )
    request_id = await repository.insert_request(session, request, lines)
    await repository.add_decision(
        session,
        AfterSaleDecision(
            request_id=request_id,
            action=AfterSaleAction.REQUESTED,
            to_status=AfterSaleStatus.PENDING,
            actor=user.sub,
            actor_role=AfterSaleActor.CUSTOMER,
            reason=data.reason,
            created_at=now,
        ),
    )
    requested = AfterSaleRequested(
        after_sale_id=request_id,
        order_id=order_id,
        customer_id=order.customer_id,
        leader_id=order.leader_id,
        reason=data.reason,
        lines=[
            AfterSaleLineAsked(
                line_id=line.line_id, product_id=line.product_id, quantity=line.quantity, amount_fen=line.amount_fen
            )
            for line in lines
        ],
        amount_fen=request.amount_fen,
        requested_at=now,
    )
    await outbox.record(
        session, type=AFTERSALE_REQUESTED, aggregate=f"order:{order_id}", data=requested.model_dump(mode="json")
    )
    if await _within_automatic_policy(session, order=order, amount_fen=request.amount_fen, policy=policy, now=now):
        await _approve(
            session,
            request=request,
            order=order,
            expected=AfterSaleStatus.PENDING,
            actor=SYSTEM,
            role=AfterSaleActor.SYSTEM,
            reason="within the automatic approval policy",
            now=now,
        )
    return await _read(session, request_id)


async def _within_automatic_policy(
    session: AsyncSession, *, order: Order, amount_fen: int, policy: AfterSalePolicy, now: datetime
) -> bool:
    if amount_fen > policy.auto_approve_limit_fen:
        return False
    if order.picked_up_at is not None and now > order.picked_up_at + timedelta(hours=policy.auto_approve_hours):
        return False
    # Two requests of one customer on two orders at the same moment may each not see the other's approval; the cap
    # bounds a habit, and each request is still within the automatic limit.
    approved = await repository.approved_since(
        session, customer_id=order.customer_id, since=now - timedelta(days=CAP_DAYS)
    )
    return approved + amount_fen <= policy.auto_approve_cap_fen


# -- deciding --------------------------------------------------------------------------------------------------------


async def _approve(
    session: AsyncSession,
    *,
    request: AfterSaleRequest,
    order: Order,
    expected: AfterSaleStatus,
    actor: str,
    role: AfterSaleActor,
    reason: str | None,
    now: datetime,
) -> None:
    """Approve (the caller holds the order row locked) and refund the reserved units, once."""
    request_id = _rid(request)
    if not await repository.change_status(
        session,
        request_id=request_id,
        expected=expected,
        values={
            "status": AfterSaleStatus.APPROVED,
            "decided_by": actor,
            "decision_reason": reason,
            "decided_at": now,
            "approved_at": now,
            "updated_at": now,
        },
    ):
        raise AfterSaleChanged(f"After-sale request {request_id} was decided meanwhile")
    await _record(
        session,
        request,
        action=AfterSaleAction.APPROVED,
        from_status=expected,
        to_status=AfterSaleStatus.APPROVED,
        actor=actor,
        role=role,
        reason=reason,
        now=now,
    )
    lines = await repository.lines_of(session, [request_id])
    refund = await orders_service.issue_refund(
        session,
        order=order,
        units={line.line_id: line.quantity for line in lines},
        actor=actor,
        reason=f"after-sale {request_id} ({request.reason})",
        now=now,
        source_key=f"after_sale:{request_id}",
        from_reserved=True,
    )
    await repository.change_status(
        session,
        request_id=request_id,
        expected=AfterSaleStatus.APPROVED,
        values={"refund_id": refund.id, "refunded_fen": refund.refund_fen},
    )
    if refund.provider_status == RefundProviderStatus.NOT_NEEDED:  # paid entirely with points: nothing to send
        await _mark_refunded(session, request_id=request_id, refund_id=refund.id, refund_fen=0, now=now)


def _reviewer_role(request: AfterSaleRequest, user: Principal) -> AfterSaleActor:
    """In which capacity the caller may decide the request; nobody decides their own."""
    if request.customer_id == user.sub:
        raise NotAfterSaleReviewer("Nobody decides their own after-sale request")
    if user.can(Permission.AFTERSALES_REVIEW):
        return AfterSaleActor.STAFF
    if user.is_leader_of(request.leader_id):
        return AfterSaleActor.LEADER
    raise NotAfterSaleReviewer()


def _expect(request: AfterSaleRequest, allowed: Sequence[AfterSaleStatus], action: str) -> None:
    if request.status not in allowed:
        raise AfterSaleNotOpen(f"After-sale request {_rid(request)} is {request.status}; it cannot be {action}")


async def approve(
    session: AsyncSession,
    *,
    request_id: int,
    user: Principal,
    reason: str | None,
    policy: AfterSalePolicy,
    now: datetime,
) -> AfterSaleRead:
    request = await readable_request(session, request_id, user)
    role = _reviewer_role(request, user)
    if role == AfterSaleActor.LEADER:
        _expect(request, [AfterSaleStatus.PENDING], "approved by the leader")
        if request.amount_fen > policy.leader_limit_fen:
            raise OverLeaderLimit(f"A leader approves up to {policy.leader_limit_fen} fen; escalate this request")
    else:
        _expect(request, OPEN_STATUSES, "approved")
        if request.amount_fen > policy.finance_threshold_fen and not user.can(Permission.REFUNDS_DECIDE):
            raise FinanceApprovalRequired(f"Above {policy.finance_threshold_fen} fen finance approves")
    # The order first, then the request: the same order as every other writer of both.
    order = await orders_repository.get_order(session, request.order_id, for_update=True)
    assert order is not None, "orders are never deleted"
    await _approve(
        session,
        request=request,
        order=order,
        expected=request.status,
        actor=user.sub,
        role=role,
        reason=reason,
        now=now,
    )
    return await _read(session, request_id)


async def reject(
    session: AsyncSession, *, request_id: int, user: Principal, reason: str, now: datetime
) -> AfterSaleRead:
    """Staff only (a leader approves or escalates); the reserved units are released."""
    request = await readable_request(session, request_id, user)
    if _reviewer_role(request, user) != AfterSaleActor.STAFF:
        raise NotAfterSaleReviewer("Only after-sale staff reject a request; a leader may escalate it")
    _expect(request, OPEN_STATUSES, "rejected")
    await _move(
        session,
        request,
        to_status=AfterSaleStatus.REJECTED,
        action=AfterSaleAction.REJECTED,
        actor=user.sub,
        role=AfterSaleActor.STAFF,
        reason=reason,
        values={"decided_by": user.sub, "decision_reason": reason, "decided_at": now},
        now=now,
    )
    for line in await repository.lines_of(session, [request_id]):
        released = await orders_repository.release_line_units(session, line_id=line.line_id, quantity=line.quantity)
        assert released, "an open request's units are reserved"
    return await _read(session, request_id)


async def escalate(
    session: AsyncSession, *, request_id: int, user: Principal, reason: str | None, now: datetime
) -> AfterSaleRead:
    """Pass a pending request on to staff (the leader does, above their limit or when unsure)."""
    request = await readable_request(session, request_id, user)
    role = _reviewer_role(request, user)
    _expect(request, [AfterSaleStatus.PENDING], "escalated")
    await _move(
        session,
        request,
        to_status=AfterSaleStatus.ESCALATED,
        action=AfterSaleAction.ESCALATED,
        actor=user.sub,
        role=role,
        reason=reason,
        values={},
        now=now,
    )
    return await _read(session, request_id)


async def appeal(
    session: AsyncSession, *, request_id: int, user: Principal, reason: str, now: datetime
) -> AfterSaleRead:
    """The customer contests a rejection, once: the units are reserved again and staff decide anew."""
    request = await readable_request(session, request_id, user)
    if request.customer_id != user.sub:
        raise NotAfterSaleOwner(f"Only the customer who asked may appeal after-sale request {request_id}")
    if request.status == AfterSaleStatus.REJECTED and request.appealed_at is not None:
        raise AppealUsed(f"After-sale request {request_id} was appealed once already")
    _expect(request, [AfterSaleStatus.REJECTED], "appealed")
    await _move(
        session,
        request,
        to_status=AfterSaleStatus.APPEALED,
        action=AfterSaleAction.APPEALED,
        actor=user.sub,
        role=AfterSaleActor.CUSTOMER,
        reason=reason,
        values={"appealed_at": now},
        now=now,
    )
    for line in await repository.lines_of(session, [request_id]):
        if not await orders_repository.reserve_line_units(session, line_id=line.line_id, quantity=line.quantity):
            raise AfterSaleExceedsPurchase(f"Line {line.line_id} was refunded or asked for meanwhile")
    return await _read(session, request_id)


async def _move(
    session: AsyncSession,
    request: AfterSaleRequest,
    *,
    to_status: AfterSaleStatus,
    action: AfterSaleAction,
    actor: str,
    role: AfterSaleActor,
    reason: str | None,
    values: dict[str, object],
    now: datetime,
) -> None:
    request_id = _rid(request)
    if not await repository.change_status(
        session,
        request_id=request_id,
        expected=request.status,
        values={"status": to_status, "updated_at": now, **values},
    ):
        raise AfterSaleChanged(f"After-sale request {request_id} was decided meanwhile")
    await _record(
        session,
        request,
        action=action,
        from_status=request.status,
        to_status=to_status,
        actor=actor,
        role=role,
        reason=reason,
        now=now,
    )


# -- the money back --------------------------------------------------------------------------------------------------


async def refund_paid(session: AsyncSession, *, refund_id: int, now: datetime) -> None:
    """The refund sender paid refund `refund_id` back: its after-sale request, if any, becomes `refunded`."""
    request = await repository.request_of_refund(session, refund_id)
    if request is not None:
        await _mark_refunded(
            session, request_id=_rid(request), refund_id=refund_id, refund_fen=request.refunded_fen or 0, now=now
        )


async def _mark_refunded(
    session: AsyncSession, *, request_id: int, refund_id: int, refund_fen: int, now: datetime
) -> None:
    request = await repository.get_request(session, request_id)
    assert request is not None
    if not await repository.change_status(
        session,
        request_id=request_id,
        expected=AfterSaleStatus.APPROVED,
        values={"status": AfterSaleStatus.REFUNDED, "refunded_at": now, "updated_at": now},
    ):
        return  # marked already
    await repository.add_decision(
        session,
        AfterSaleDecision(
            request_id=request_id,
            action=AfterSaleAction.REFUNDED,
            from_status=AfterSaleStatus.APPROVED,
            to_status=AfterSaleStatus.REFUNDED,
            actor=SYSTEM,
            actor_role=AfterSaleActor.SYSTEM,
            reason=f"refund {refund_id}",
            created_at=now,
        ),
    )
    payload = AfterSaleRefunded(
        after_sale_id=request_id,
        order_id=request.order_id,
        customer_id=request.customer_id,
        leader_id=request.leader_id,
        refund_id=refund_id,
        refund_fen=refund_fen,
        refunded_at=now,
    )
    await outbox.record(
        session, type=AFTERSALE_REFUNDED, aggregate=f"order:{request.order_id}", data=payload.model_dump(mode="json")
    )


# -- reading ---------------------------------------------------------------------------------------------------------


async def get_request(session: AsyncSession, *, request_id: int, user: Principal) -> AfterSaleRead:
    await readable_request(session, request_id, user)
    return await _read(session, request_id)


async def list_requests(
    session: AsyncSession, *, user: Principal, query: AfterSaleQuery, tz: ZoneInfo
) -> Page[AfterSaleRead]:
    """Staff see every request; a leader passing their own `leader_id` those of their pickup point; anyone else
    their own."""
    page = query.page_params()
    customer_id: str | None = None
    if not reads_every_request(user):
        if query.leader_id is not None:
            if not user.is_leader_of(query.leader_id):
                raise LeaderFilterForbidden("A leader may only list the after-sale requests of their own pickup point")
        else:
            customer_id = user.sub
    start, end = query.window(tz)
    rows = await repository.list_requests(
        session,
        limit=page.limit + 1,
        after_id=page.after_int(),
        customer_id=customer_id,
        leader_id=query.leader_id,
        status=query.status,
        start=start,
        end=end,
    )
    shown = [_rid(r) for r in rows[: page.limit]]
    lines: dict[int, list[AfterSaleLine]] = {}
    for line in await repository.lines_of(session, shown):
        lines.setdefault(line.request_id, []).append(line)
    decisions: dict[int, list[AfterSaleDecision]] = {}
    for decision in await repository.decisions_of(session, shown):
        decisions.setdefault(decision.request_id, []).append(decision)
    return page.page(
        rows,
        key=lambda r: [r.id],
        convert=lambda r: _to_read(r, lines.get(_rid(r), []), decisions.get(_rid(r), [])),
    )
