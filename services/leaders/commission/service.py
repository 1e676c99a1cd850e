"""Commission rules and the ledger: accrue on payment, freeze from pickup, settle, reverse on refund.

Rounding: a percentage commission rounds down per line (never in the leader's favour by a fraction of a fen). A
partial refund reverses `floor(commission × refunded so far / quantity)` minus what was already reversed, so the
reversals of a line add up to exactly its commission when everything is refunded and never exceed it before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common import audit
from services.common.auth import Principal
from services.common.clock import local_date
from services.common.events.contract import OrderPaid, OrderPickedUp, OrderRefunded
from services.common.pagination import Page, PageParams
from services.common.reconciliation import OrdersWithEffects, OrdersWithEffectsRequest
from services.leaders.commission import repository
from services.leaders.commission.exceptions import AccrualNotYetRecorded, CommissionAccountNotFound
from services.leaders.commission.models import (
    CommissionAccount,
    CommissionAccrual,
    CommissionAccrualState,
    CommissionEntryKind,
    CommissionExclusion,
    CommissionReversal,
    CommissionRule,
    CommissionRuleMode,
    CommissionRuleScope,
)
from services.leaders.commission.repository import Movement
from services.leaders.commission.schemas import (
    Balance,
    CommissionRuleState,
    EntryRead,
    OrderCommissionCounts,
    ReconciliationResult,
    RuleCreate,
    RuleList,
    RuleListItem,
    RuleRead,
)
from services.leaders.db import outbox
from services.leaders.ladder import repository as ladder_repository
from services.leaders.ladder.exceptions import LevelNotFound
from services.leaders.profiles import repository as profiles_repository
from services.leaders.profiles.access import ensure_reads_leader
from services.leaders.sales import repository as sales_repository
from services.leaders.sales.models import LeaderOrder, LeaderRefund

_SCOPE_PRECEDENCE = (CommissionRuleScope.PRODUCT, CommissionRuleScope.LEVEL, CommissionRuleScope.DEFAULT)
RuleKey = tuple[CommissionRuleScope, str | None, int | None]


# --- rules -------------------------------------------------------------------------------------------------------


async def create_rule(session: AsyncSession, *, data: RuleCreate, created_by: str, now: datetime) -> RuleRead:
    if data.level is not None and await ladder_repository.get_level(session, data.level) is None:
        raise LevelNotFound(f"Level {data.level} does not exist")
    rule = CommissionRule(
        **data.model_dump(exclude={"effective_from"}),
        effective_from=data.effective_from or now,
        created_by=created_by,
        created_at=now,
    )
    # The trail shows what the new rule replaces: the rule of the same scope in effect when it starts.
    replaced = rules_in_effect(await repository.list_rules(session), rule.effective_from).get(_rule_key(rule))
    created = RuleRead.model_validate(await repository.insert_rule(session, rule))
    await audit.record(
        session, outbox, actor=created_by, action="commission_rule.created", target=("commission_rule", created.id),
        before=RuleRead.model_validate(replaced).model_dump() if replaced is not None else None,
        after=created.model_dump(), at=now,
    )  # fmt: skip
    return created


def _rule_key(rule: CommissionRule) -> RuleKey:
    return rule.scope, rule.level, rule.product_id


def rules_in_effect(rules: Sequence[CommissionRule], at: datetime) -> dict[RuleKey, CommissionRule]:
    """Per scope key, the latest rule that had started at `at` (a later rule replaces an earlier one)."""
    current: dict[RuleKey, CommissionRule] = {}
    for rule in rules:
        if rule.effective_from > at:
            continue
        seen = current.get(_rule_key(rule))
        if seen is None or (rule.effective_from, rule.id or 0) > (seen.effective_from, seen.id or 0):
            current[_rule_key(rule)] = rule
    return current


async def list_rules(session: AsyncSession, *, now: datetime) -> RuleList:
    """The rules in effect now, then those scheduled to start later."""
    rules = await repository.list_rules(session)
    current = rules_in_effect(rules, now)
    items = [
        RuleListItem(**RuleRead.model_validate(r).model_dump(), state=CommissionRuleState.CURRENT)
        for r in current.values()
    ]
    items.sort(key=lambda r: (_SCOPE_PRECEDENCE.index(r.scope), r.level or "", r.product_id or 0))
    items += [
        RuleListItem(**RuleRead.model_validate(r).model_dump(), state=CommissionRuleState.SCHEDULED)
        for r in rules
        if r.effective_from > now
    ]
    return RuleList(items=items)


def matching_rule(
    current: dict[RuleKey, CommissionRule], *, product_id: int, level: str | None
) -> CommissionRule | None:
    """The first match in the order product → leader level → default."""
    keys: list[RuleKey] = [
        (CommissionRuleScope.PRODUCT, None, product_id),
        (CommissionRuleScope.LEVEL, level, None),
        (CommissionRuleScope.DEFAULT, None, None),
    ]
    for key in keys:
        if key[0] == CommissionRuleScope.LEVEL and level is None:
            continue
        rule = current.get(key)
        if rule is not None:
            return rule
    return None


def commission_for(rule: CommissionRule | None, *, paid_fen: int, quantity: int, cost_fen: int | None = None) -> int:
    """A line's commission. `margin`: the rate of (paid - unit cost x quantity), never negative; a line without a
    cost price earns no margin commission (its margin is unknown)."""
    if rule is None:
        return 0
    if rule.mode == CommissionRuleMode.PERCENTAGE:
        assert rule.rate_bp is not None
        return paid_fen * rule.rate_bp // 10_000  # rounds down per line
    if rule.mode == CommissionRuleMode.MARGIN:
        assert rule.rate_bp is not None
        if cost_fen is None:
            return 0
        return max(0, paid_fen - cost_fen * quantity) * rule.rate_bp // 10_000
    assert rule.amount_fen is not None
    return rule.amount_fen * quantity


# --- accrual, freeze, settlement, reversal -----------------------------------------------------------------------


def exclusion_of(order: OrderPaid, *, commission_on_own_orders: bool) -> CommissionExclusion | None:
    """Why the whole order earns nothing, if it does: a leader buying at their own pickup point would otherwise pay
    themselves commission out of the platform's margin. A leader's id is their user's JWT `sub`, and so is the
    order's `customer_id`, so their own orders are those two being equal."""
    if order.customer_id == order.leader_id and not commission_on_own_orders:
        return CommissionExclusion.OWN_ORDER
    return None


async def accrue_order(
    session: AsyncSession, *, order: OrderPaid, now: datetime, commission_on_own_orders: bool
) -> list[CommissionAccrual]:
    """Accrue pending commission for each line of a paid order, once per line, snapshotting what it used.

    An excluded order (`exclusion_of`) still gets its accrual and 0 entry per line: reconciliation counts one accrual
    entry per paid line, later refunds reverse 0 against it, and the statement shows the line with the reason."""
    excluded = exclusion_of(order, commission_on_own_orders=commission_on_own_orders)
    await sales_repository.insert_order(
        session,
        LeaderOrder(
            order_id=order.order_id,
            leader_id=order.leader_id,
            customer_id=order.customer_id,
            paid_fen=order.paid_fen,
            paid_at=order.paid_at,
        ),
    )
    leader = await profiles_repository.get_leader(session, order.leader_id)
    level = leader.level if leader is not None else None
    candidates = await repository.candidate_rules(
        session, at=order.paid_at, level=level, product_ids=sorted({line.product_id for line in order.lines})
    )
    current = rules_in_effect(candidates, order.paid_at)
    await repository.ensure_account(session, order.leader_id)
    accrued: list[CommissionAccrual] = []
    for line in order.lines:
        # Fast path for a redelivered event; the unique line id (and entry ref) is what really guarantees once.
        if await repository.get_accrual_by_line(session, line.line_id) is not None:
            continue
        rule = None if excluded else matching_rule(current, product_id=line.product_id, level=level)
        commission = commission_for(rule, paid_fen=line.paid_fen, quantity=line.quantity, cost_fen=line.cost_fen)
        accrual = await repository.insert_accrual(
            session,
            CommissionAccrual(
                leader_id=order.leader_id,
                order_id=order.order_id,
                line_id=line.line_id,
                product_id=line.product_id,
                customer_id=order.customer_id,
                quantity=line.quantity,
                base_fen=line.paid_fen,
                cost_fen=line.cost_fen,
                rule_id=rule.id if rule else None,
                rule_scope=rule.scope if rule else None,
                mode=rule.mode if rule else None,
                rate_bp=rule.rate_bp if rule else None,
                per_item_fen=rule.amount_fen if rule else None,
                level=level,
                commission_fen=commission,
                excluded=excluded,
                paid_at=order.paid_at,
                created_at=now,
            ),
        )
        # An entry even for 0: every paid line has exactly one accrual entry, which reconciliation counts.
        await repository.post_entry(
            session,
            leader_id=order.leader_id,
            kind=CommissionEntryKind.ACCRUAL,
            amount_fen=commission,
            movement=Movement(pending=commission),
            accrued_fen=commission,
            ref=f"accrual:{line.line_id}",
            at=now,
            accrual_id=accrual.id,
            order_id=order.order_id,
            line_id=line.line_id,
        )
        accrued.append(accrual)
    return accrued


async def start_freeze(session: AsyncSession, *, picked_up: OrderPickedUp) -> int:
    """The freeze period of the order's commission starts at pickup. Returns how many accruals started now."""
    if await repository.count_accruals_of_order(session, picked_up.order_id) == 0:
        raise AccrualNotYetRecorded(f"Order {picked_up.order_id} has no accrual yet")
    await sales_repository.mark_order_picked_up(session, picked_up.order_id, at=picked_up.picked_up_at)
    return await repository.start_freeze(session, picked_up.order_id, picked_up_at=picked_up.picked_up_at)


def settlement_cutoff(now: datetime, *, freeze_days: int, tz: ZoneInfo) -> datetime:
    """Settlement days are local dates: what was picked up on local day D settles from local day D + freeze_days.
    So everything picked up before the local midnight that starts day (today - freeze_days + 1) is due."""
    first_not_due = local_date(now, tz) - timedelta(days=freeze_days - 1)
    return datetime.combine(first_not_due, time.min, tzinfo=tz)


async def settle_accrual(session: AsyncSession, *, accrual_id: int, now: datetime) -> int | None:
    """Make one accrual's pending commission (what refunds left of it) available. Returns the fen it moved, or None
    when a parallel run settled it first, so a settled accrual is never settled again."""
    outcome = await repository.mark_settled(session, accrual_id, at=now)
    if outcome is None:
        return None
    leader_id, remaining, order_id, line_id = outcome
    if remaining == 0:
        return 0  # fully reversed before settlement: nothing to move
    await repository.post_entry(
        session,
        leader_id=leader_id,
        kind=CommissionEntryKind.SETTLEMENT,
        amount_fen=remaining,
        movement=Movement(pending=-remaining, available=remaining),
        ref=f"settlement:{accrual_id}",
        at=now,
        accrual_id=accrual_id,
        order_id=order_id,
        line_id=line_id,
    )
    return remaining


async def reverse_refund(session: AsyncSession, *, refund: OrderRefunded, now: datetime) -> int:
    """Reverse commission proportionally for each refunded line, from the accrual's snapshot; once per
    (refund, line). Unsettled commission comes off pending, settled off available (which may go negative: owed).
    Returns the fen reversed now."""
    total = 0
    for line in refund.lines:
        if await repository.reversal_exists(session, refund_id=refund.refund_id, line_id=line.line_id):
            continue
        total += await _reverse_line(session, refund=refund, line_id=line.line_id, quantity=line.quantity, now=now)
    await sales_repository.record_refund(
        session,
        LeaderRefund(
            refund_id=refund.refund_id,
            order_id=refund.order_id,
            leader_id=refund.leader_id,
            refund_fen=refund.refund_fen,
            refunded_at=refund.refunded_at,
        ),
    )
    return total


async def _reverse_line(
    session: AsyncSession, *, refund: OrderRefunded, line_id: int, quantity: int, now: datetime
) -> int:
    for _attempt in range(10):
        accrual = await repository.get_accrual_by_line(session, line_id)
        if accrual is None:
            raise AccrualNotYetRecorded(f"Order line {line_id} has no accrual yet")
        assert accrual.id is not None
        # Orders never refunds more than was bought; clamping keeps a bad event from breaking the ledger's bounds.
        refunded_after = min(accrual.reversed_quantity + quantity, accrual.quantity)
        target = accrual.commission_fen * refunded_after // accrual.quantity if accrual.quantity else 0
        amount = target - accrual.reversed_fen
        if await repository.record_reversed(
            session,
            accrual.id,
            seen_quantity=accrual.reversed_quantity,
            seen_state=accrual.state,
            quantity=refunded_after - accrual.reversed_quantity,
            fen=amount,
        ):
            break
        # A settlement or another refund of this line changed it between our read and our update: read again.
    else:  # pragma: no cover - ten lost races in a row means something is badly wrong
        raise AccrualNotYetRecorded(f"Order line {line_id} kept changing; retry")
    source = accrual.state
    await repository.insert_reversal(
        session,
        CommissionReversal(
            accrual_id=accrual.id,
            refund_id=refund.refund_id,
            line_id=line_id,
            quantity=quantity,
            amount_fen=amount,
            source=source,
            created_at=now,
        ),
    )
    movement = Movement(pending=-amount) if source == CommissionAccrualState.PENDING else Movement(available=-amount)
    await repository.post_entry(
        session,
        leader_id=accrual.leader_id,
        kind=CommissionEntryKind.REVERSAL,
        amount_fen=-amount,
        movement=movement,
        reversed_fen=amount,
        ref=f"reversal:{refund.refund_id}:{line_id}",
        at=now,
        accrual_id=accrual.id,
        order_id=refund.order_id,
        line_id=line_id,
        refund_id=refund.refund_id,
    )
    return amount


# --- reading -----------------------------------------------------------------------------------------------------


async def account_of(session: AsyncSession, leader_id: str) -> CommissionAccount:
    """The leader's commission account. It is stored with the leader's first ledger entry (the first accrual), so a
    leader who has earned nothing yet reads as all zeros; someone who is not a leader has no account."""
    account = await repository.get_account(session, leader_id)
    if account is not None:
        return account
    if await profiles_repository.get_leader(session, leader_id) is None:
        raise CommissionAccountNotFound(f"Leader {leader_id} has no commission account")
    return CommissionAccount(leader_id=leader_id)  # not added to the session: only post_entry's first touch stores it


async def get_balance(session: AsyncSession, *, user: Principal, leader_id: str) -> Balance:
    await ensure_reads_leader(session, user, leader_id)
    account = await account_of(session, leader_id)
    return Balance(
        leader_id=leader_id,
        pending_fen=account.pending_fen,
        available_fen=account.available_fen,
        in_withdrawal_fen=account.in_withdrawal_fen,
        withdrawn_fen=account.withdrawn_fen,
        owed_fen=max(0, -account.available_fen),
        accrued_fen=account.accrued_fen,
        reversed_fen=account.reversed_fen,
    )


async def list_entries(
    session: AsyncSession, *, user: Principal, leader_id: str, page: PageParams, kind: CommissionEntryKind | None
) -> Page[EntryRead]:
    await ensure_reads_leader(session, user, leader_id)
    await account_of(session, leader_id)
    rows = await repository.list_entries(
        session, leader_id, limit=page.limit + 1, before_id=page.after_int(), kind=kind
    )
    return page.page(rows, key=lambda e: [e.id], convert=EntryRead.model_validate)


async def reconcile(session: AsyncSession, *, order_ids: Sequence[int]) -> ReconciliationResult:
    """How many accrual and reversal entries each order has, for the reconciliation job to compare with orders."""
    orders = {str(order_id): OrderCommissionCounts(accruals={}, reversals={}) for order_id in order_ids}
    for order_id, line_id, refund_id, count in await repository.count_effects(session, sorted(set(order_ids))):
        counts = orders[str(order_id)]
        if refund_id is None:
            counts.accruals[str(line_id)] = int(count)
        else:
            counts.reversals[f"{refund_id}:{line_id}"] = int(count)
    return ReconciliationResult(orders=orders)


async def orders_with_effects(session: AsyncSession, query: OrdersWithEffectsRequest) -> OrdersWithEffects:
    """The orders this service credited or reversed commission for in the range, whatever the orders service says
    about them: reconciliation's receiving side, which finds an accrual whose order does not exist."""
    ids = await repository.orders_with_effects(
        session, since=query.since, until=query.until, after=query.after or 0, limit=query.limit
    )
    return OrdersWithEffects.page(ids, limit=query.limit)
