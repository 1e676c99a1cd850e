"""Model-based test of the commission ledger (hypothesis stateful): any sequence of accrue / pickup / settle /
reverse / withdraw / approve / reject keeps

    pending + available + in_withdrawal + withdrawn == accrued - reversed

and every stored balance-after equal to the running sum of the entries' deltas."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.auth import Principal
from services.common.clock import utcnow
from services.common.db import Database
from services.common.testing import reset_database
from services.leaders.commission import repository as commission_repository
from services.leaders.commission import service as commission
from services.leaders.commission.jobs import settle_due
from services.leaders.commission.models import CommissionAccount, CommissionAccrual, CommissionEntry
from services.leaders.commission.schemas import RuleCreate
from services.leaders.models import metadata
from services.leaders.profiles import repository as profiles_repository
from services.leaders.profiles.models import Leader, LeaderStatus
from services.leaders.withdrawals import service as withdrawals
from services.leaders.withdrawals.exceptions import InsufficientBalance, WithdrawalAlreadyDecided
from services.leaders.withdrawals.payout import FakePayoutProvider
from services.leaders.withdrawals.schemas import WithdrawalCreate, WithdrawalReject
from tests.leaders.conftest import Orders

T = TypeVar("T")
LEADER = Principal(sub="l1", roles=frozenset({"leader"}))


def active_leader(leader_id: str) -> Leader:
    """Withdrawals are the leader's own action: only an active leader's are taken."""
    now = utcnow()
    return Leader(
        leader_id=leader_id, name="Wang Fang", phone="13800138000", status=LeaderStatus.ACTIVE, pickup_name="Shop",
        pickup_address="1 Garden Road", pickup_community="Sunny Garden", created_at=now, updated_at=now,
    )  # fmt: skip


SHANGHAI = ZoneInfo("Asia/Shanghai")


class LedgerMachine(RuleBasedStateMachine):
    url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.db = Database(self.url, metadata)
        self.orders = Orders()
        self.paid: list[Any] = []
        self.withdrawal_ids: list[int] = []
        self.payout = FakePayoutProvider()

    def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def in_transaction() -> T:
            async with self.db.transaction() as session:
                return await work(session)

        return self.runner.run(in_transaction())

    def teardown(self) -> None:
        self.runner.run(self.db.dispose())
        self.runner.close()

    @initialize()
    def start(self) -> None:
        self.runner.run(reset_database(self.db))
        self.run(lambda s: profiles_repository.insert_leader(s, active_leader("l1")))
        self.run(lambda s: commission_repository.ensure_account(s, "l1"))
        self.run(
            lambda s: commission.create_rule(
                s, data=RuleCreate(scope="default", mode="percentage", rate_bp=1234), created_by="ops", now=utcnow()
            )
        )
        self.run(
            lambda s: commission.create_rule(
                s,
                data=RuleCreate(scope="product", product_id=2, mode="per_item", amount_fen=77),
                created_by="ops",
                now=utcnow(),
            )
        )

    @rule(
        lines=st.lists(
            st.tuples(st.sampled_from([1, 2]), st.integers(1, 5), st.integers(0, 50_000)), min_size=1, max_size=3
        )
    )
    def accrue(self, lines: list[tuple[int, int, int]]) -> None:
        order = self.orders.paid("l1", lines)
        self.run(lambda s: commission.accrue_order(s, order=order, now=utcnow(), commission_on_own_orders=False))
        self.paid.append(order)

    @precondition(lambda self: self.paid)
    @rule(data=st.data(), days_ago=st.sampled_from([0, 10]))
    def pick_up(self, data: st.DataObject, days_ago: int) -> None:
        order = data.draw(st.sampled_from(self.paid))
        self.run(lambda s: commission.start_freeze(s, picked_up=self.orders.picked_up(order, days_ago=days_ago)))

    @rule()
    def settle(self) -> None:
        self.runner.run(settle_due(self.db, freeze_days=7, tz=SHANGHAI, now=utcnow()))

    @precondition(lambda self: self.paid)
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        order = data.draw(st.sampled_from(self.paid))
        index = data.draw(st.integers(0, len(order.lines) - 1))
        quantity = data.draw(st.integers(1, order.lines[index].quantity))
        refund = self.orders.refunded(order, [(index, quantity)])
        self.run(lambda s: commission.reverse_refund(s, refund=refund, now=utcnow()))

    @rule(amount=st.integers(1, 20_000))
    def withdraw(self, amount: int) -> None:
        async def work(s: AsyncSession) -> int:
            created = await withdrawals.request_withdrawal(
                s, user=LEADER, leader_id="l1", data=WithdrawalCreate(amount_fen=amount), minimum_fen=1, now=utcnow()
            )
            return created.id

        with contextlib.suppress(InsufficientBalance):
            self.withdrawal_ids.append(self.run(work))

    @precondition(lambda self: self.withdrawal_ids)
    @rule(data=st.data(), approve=st.booleans())
    def decide(self, data: st.DataObject, approve: bool) -> None:
        withdrawal_id = data.draw(st.sampled_from(self.withdrawal_ids))

        async def work(s: AsyncSession) -> Any:
            if approve:
                return await withdrawals.approve_withdrawal(
                    s, withdrawal_id=withdrawal_id, decided_by="ops", payout=self.payout, now=utcnow()
                )
            return await withdrawals.reject_withdrawal(
                s, withdrawal_id=withdrawal_id, decided_by="ops", data=WithdrawalReject(reason="no"), now=utcnow()
            )

        with contextlib.suppress(WithdrawalAlreadyDecided):
            self.run(work)

    @invariant()
    def balances_add_up_and_every_balance_after_is_the_running_sum(self) -> None:
        async def read(s: AsyncSession) -> tuple[Any, list[Any], list[Any]]:
            account = await s.get(CommissionAccount, "l1", populate_existing=True)
            entries = (await s.exec(select(CommissionEntry).order_by(col(CommissionEntry.id)))).all()
            accruals = (await s.exec(select(CommissionAccrual))).all()
            return account, list(entries), list(accruals)

        account, entries, accruals = self.run(read)
        if account is None:
            return
        total = account.pending_fen + account.available_fen + account.in_withdrawal_fen + account.withdrawn_fen
        assert total == account.accrued_fen - account.reversed_fen
        assert account.pending_fen >= 0 and account.in_withdrawal_fen >= 0 and account.withdrawn_fen >= 0
        assert account.accrued_fen == sum(a.commission_fen for a in accruals)
        assert account.reversed_fen == sum(a.reversed_fen for a in accruals)
        assert all(0 <= a.reversed_fen <= a.commission_fen for a in accruals)
        running = [0, 0, 0, 0]
        for entry in entries:
            deltas = (
                entry.pending_delta_fen,
                entry.available_delta_fen,
                entry.in_withdrawal_delta_fen,
                entry.withdrawn_delta_fen,
            )
            running = [r + d for r, d in zip(running, deltas, strict=True)]
            afters = [
                entry.pending_after_fen,
                entry.available_after_fen,
                entry.in_withdrawal_after_fen,
                entry.withdrawn_after_fen,
            ]
            assert afters == running, entry
        assert running == [account.pending_fen, account.available_fen, account.in_withdrawal_fen, account.withdrawn_fen]
        # Commission still pending is exactly what unsettled accruals have left.
        assert account.pending_fen == sum(a.commission_fen - a.reversed_fen for a in accruals if a.state == "pending")
        # No withdrawal ever took available below zero: it only goes negative through reversals after settlement.
        for entry in entries:
            if entry.kind == "withdrawal":
                assert entry.available_after_fen >= 0


@pytest.mark.hypothesis  # a search: `make test-deep` runs it at length
def test_ledger_invariants_hold_for_any_sequence_of_operations(database_urls: dict[str, str]) -> None:
    LedgerMachine.url = database_urls["leaders"]
    test = LedgerMachine.TestCase
    test.settings = settings(
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    test().runTest()
