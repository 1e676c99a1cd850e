"""Model-based test of the ledger: any sequence of earning, sign-ins, holds, payments, releases, refunds, purchase
reversals, debts and expiry keeps the books straight.

After every step: `balance + held == earned - spent - expired - reversed`; every entry's `balance_after` and
`held_after` equal the running sums and the account equals the last entry; held equals the open holds; the lots
hold exactly the spendable balance; lifetime earned is what was earned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.clock import local_date
from services.common.db import Database
from services.common.events.contract import OrderLineRefund, OrderLineState, OrderPickedUp, OrderRefunded
from services.common.testing import reset_database
from services.points.app import create_app
from services.points.holds import service as holds
from services.points.holds.jobs import expired_holds_job
from services.points.holds.models import Hold, HoldStatus
from services.points.ledger import service as ledger
from services.points.ledger.exceptions import InsufficientPoints
from services.points.ledger.jobs import expiry_job
from services.points.ledger.models import Account, Entry, Lot, PointsEntryKind
from services.points.purchases import service as purchases
from services.points.rules.schemas import Rules
from services.points.rules.service import replace_rules
from services.points.signins import service as signins
from services.points.signins.exceptions import AlreadySignedIn
from tests.conftest import service_settings

T = TypeVar("T")


@dataclass
class Award:
    base_fen: int
    points: int
    refunded_fen: int = 0
    reversed_points: int = 0


class Harness:
    """One app, one event loop and one movable clock shared by every example of the test."""

    def __init__(self, database_urls: dict[str, str]) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = create_app(service_settings("points", database_urls))
        self.db: Database = self.app.state.db
        self.now = datetime(2025, 1, 15, 4, tzinfo=UTC)
        self.app.state.clock = lambda: self.now
        # Examples share the database (emptying it per example costs more than the example on PostgreSQL):
        # each gets its own user and fresh order and refund ids.
        self.examples = 0
        self.next_id = 0
        self.run(reset_database(self.db))
        self.in_transaction(
            lambda s: replace_rules(s, rules=Rules(newcomer_points=0, invite_reward_points=0), actor="t", now=self.now)
        )

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def in_transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def go() -> T:
            async with self.db.sessionmaker() as session, session.begin():
                return await work(session)

        return self.run(go())

    def close(self) -> None:
        self.run(self.db.dispose())
        self.loop.close()


class LedgerMachine(RuleBasedStateMachine):
    harness: Harness

    def __init__(self) -> None:
        super().__init__()
        h = self.harness
        h.examples += 1
        self.user = f"model-{h.examples}"
        self.earned = 0
        self.spent = 0
        self.reversed = 0
        self.holds: dict[int, tuple[int, str]] = {}  # order id -> (points, status as the model knows it)
        self.returned: dict[int, int] = {}
        self.awards: dict[int, Award] = {}

    def _id(self) -> int:
        self.harness.next_id += 1
        return self.harness.next_id

    @property
    def tz(self) -> Any:
        return self.harness.app.state.settings.tz

    # ------------------------------------------------------------------------------------------------ earning

    @rule(points=st.integers(1, 500))
    def earn(self, points: int) -> None:
        h = self.harness
        h.in_transaction(
            lambda s: ledger.adjust(
                s,
                user_id=self.user,
                points=points,
                reason="gift",
                allow_negative=False,
                actor="ops",
                now=h.now,
                tz=self.tz,
            )
        )
        self.earned += points

    @rule()
    def sign_in(self) -> None:
        h = self.harness
        try:
            result = h.in_transaction(lambda s: signins.sign_in(s, user_id=self.user, now=h.now, tz=self.tz))
        except AlreadySignedIn:
            return
        self.earned += result.awarded

    @rule(paid_fen=st.integers(0, 50_000))
    def pick_up_order(self, paid_fen: int) -> None:
        h = self.harness
        order_id = self._id()
        event = OrderPickedUp(
            order_id=order_id,
            customer_id=self.user,
            leader_id="l1",
            picked_up_at=h.now,
            lines=[
                OrderLineState(
                    line_id=1, product_id=1, quantity=1, refunded_quantity=0, paid_fen=paid_fen, refunded_fen=0
                )
            ],
            paid_fen=paid_fen,
            refunded_fen=0,
        )
        h.in_transaction(lambda s: purchases.credit_purchase(s, order=event, now=h.now, tz=self.tz))
        points = paid_fen // 100  # 1 point per yuan, the default rule
        self.awards[order_id] = Award(base_fen=paid_fen, points=points)
        self.earned += points

    @precondition(lambda self: bool(self.awards))
    @rule(data=st.data())
    def refund_after_pickup(self, data: st.DataObject) -> None:
        h = self.harness
        order_id = data.draw(st.sampled_from(sorted(self.awards)))
        award = self.awards[order_id]
        refund_fen = data.draw(st.integers(0, max(award.base_fen - award.refunded_fen, 0)))
        refund = self._refund(order_id, refund_fen=refund_fen, points_returned=0, picked_up=True)
        h.in_transaction(lambda s: purchases.apply_refund(s, refund=refund, now=h.now, tz=self.tz))
        award.refunded_fen = min(award.base_fen, award.refunded_fen + refund_fen)
        total = award.points * award.refunded_fen // award.base_fen if award.base_fen else 0
        self.reversed += total - award.reversed_points
        award.reversed_points = total

    @rule(points=st.integers(1, 300))
    def take_back_allowing_debt(self, points: int) -> None:
        h = self.harness
        h.in_transaction(
            lambda s: ledger.adjust(
                s,
                user_id=self.user,
                points=-points,
                reason="fix",
                allow_negative=True,
                actor="ops",
                now=h.now,
                tz=self.tz,
            )
        )
        self.reversed += points

    # ------------------------------------------------------------------------------------------------ spending

    @rule(points=st.integers(1, 400))
    def hold(self, points: int) -> None:
        h = self.harness
        order_id = self._id()
        try:
            h.in_transaction(
                lambda s: holds.place_hold(
                    s,
                    order_id=order_id,
                    user_id=self.user,
                    points=points,
                    goods_fen=10**9,
                    now=h.now,
                    tz=self.tz,
                    ttl_seconds=3600,
                )
            )
        except InsufficientPoints:
            assert self._spendable() < points, "a hold was refused with enough points"
            return
        self.holds[order_id] = (points, HoldStatus.HELD)

    @precondition(lambda self: any(status != HoldStatus.COMMITTED for _, status in self.holds.values()))
    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        h = self.harness
        open_ids = sorted(o for o, (_, status) in self.holds.items() if status != HoldStatus.COMMITTED)
        order_id = data.draw(st.sampled_from(open_ids))
        points, _ = self.holds[order_id]
        h.in_transaction(lambda s: holds.commit_hold(s, order_id=order_id, points_used=points, now=h.now))
        self.holds[order_id] = (points, HoldStatus.COMMITTED)
        self.spent += points

    @precondition(lambda self: any(status == HoldStatus.HELD for _, status in self.holds.values()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        h = self.harness
        order_id = data.draw(st.sampled_from(sorted(o for o, (_, s) in self.holds.items() if s == HoldStatus.HELD)))
        h.in_transaction(lambda s: holds.release_hold(s, order_id=order_id, now=h.now, reason="cancel"))
        self.holds[order_id] = (self.holds[order_id][0], HoldStatus.RELEASED)

    @precondition(
        lambda self: any(s == HoldStatus.COMMITTED and self.returned.get(o, 0) < p for o, (p, s) in self.holds.items())
    )
    @rule(data=st.data())
    def refund_spent_points(self, data: st.DataObject) -> None:
        h = self.harness
        candidates = sorted(
            o for o, (p, s) in self.holds.items() if s == HoldStatus.COMMITTED and self.returned.get(o, 0) < p
        )
        order_id = data.draw(st.sampled_from(candidates))
        left = self.holds[order_id][0] - self.returned.get(order_id, 0)
        points = data.draw(st.integers(1, left))
        refund = self._refund(order_id, refund_fen=0, points_returned=points, picked_up=False)
        h.in_transaction(lambda s: purchases.apply_refund(s, refund=refund, now=h.now, tz=self.tz))
        self.returned[order_id] = self.returned.get(order_id, 0) + points
        self.spent -= points

    # ------------------------------------------------------------------------------------------------ time

    @rule(days=st.sampled_from([0, 1, 2, 30, 200, 400]), hours=st.integers(0, 23))
    def time_passes(self, days: int, hours: int) -> None:
        h = self.harness
        h.now += timedelta(days=days, hours=hours)
        h.run(expiry_job(h.app))
        h.run(expired_holds_job(h.app))
        released = set(h.in_transaction(self._released_ids))
        for order_id, (points, status) in self.holds.items():
            if status == HoldStatus.HELD and order_id in released:
                self.holds[order_id] = (points, HoldStatus.RELEASED)

    # ------------------------------------------------------------------------------------------------ checks

    @invariant()
    def books_balance(self) -> None:
        h = self.harness

        async def read(s: AsyncSession) -> tuple[Account | None, list[Entry], int, int]:
            account = (await s.exec(select(Account).where(Account.user_id == self.user))).one_or_none()
            rows = list((await s.exec(select(Entry).where(Entry.user_id == self.user).order_by(col(Entry.id)))).all())
            lots = (
                await s.exec(select(func.coalesce(func.sum(Lot.remaining), 0)).where(Lot.user_id == self.user))
            ).one()
            open_holds = (
                await s.exec(
                    select(func.coalesce(func.sum(Hold.points), 0)).where(
                        Hold.user_id == self.user, Hold.status == HoldStatus.HELD
                    )
                )
            ).one()
            return account, rows, int(lots), int(open_holds)

        account, rows, lots, open_holds = h.in_transaction(read)
        balance = held = 0
        for entry in rows:
            balance += entry.points
            held += entry.held_change
            assert entry.balance_after == balance, entry
            assert entry.held_after == held >= 0, entry
        if account is None:
            assert not rows
            return
        assert (account.balance, account.held) == (balance, held)
        expired = -sum(e.points for e in rows if e.kind == PointsEntryKind.EXPIRE)
        assert account.balance + account.held == self.earned - self.spent - expired - self.reversed
        assert account.held == open_holds
        assert lots == max(account.balance, 0)
        assert account.lifetime_earned == self.earned
        assert expired >= 0

    # ------------------------------------------------------------------------------------------------ helpers

    def _refund(self, order_id: int, *, refund_fen: int, points_returned: int, picked_up: bool) -> OrderRefunded:
        line = OrderLineRefund(
            line_id=1,
            product_id=1,
            quantity=1,
            line_quantity=1,
            refund_fen=refund_fen,
            points_returned=points_returned,
        )
        return OrderRefunded(
            order_id=order_id,
            refund_id=self._id(),
            customer_id=self.user,
            leader_id="l1",
            lines=[line],
            refund_fen=refund_fen,
            points_returned=points_returned,
            picked_up=picked_up,
            refunded_at=self.harness.now,
        )

    def _spendable(self) -> int:
        """The balance less the points in lots whose date has passed. The account row may still count those until
        the expiry job runs (a hold released after its lot's date gives the points back into that lot), but they
        are not spendable: a hold expires them before it decides, as the owner's own read does before it shows."""
        today = local_date(self.harness.now, self.tz)

        async def read(s: AsyncSession) -> int:
            account = (await s.exec(select(Account).where(Account.user_id == self.user))).one_or_none()
            if account is None:
                return 0
            due = (
                await s.exec(
                    select(func.coalesce(func.sum(Lot.remaining), 0)).where(
                        Lot.user_id == self.user, col(Lot.expires_on) < today
                    )
                )
            ).one()
            return account.balance - int(due)

        return self.harness.in_transaction(read)

    async def _released_ids(self, s: AsyncSession) -> list[int]:
        query = select(Hold.order_id).where(Hold.user_id == self.user, Hold.status == HoldStatus.RELEASED)
        return list((await s.exec(query)).all())


@pytest.mark.hypothesis  # a search: `make test-deep` runs it at length
def test_ledger_books_balance_after_any_sequence_of_operations(database_urls: dict[str, str]) -> None:
    harness = Harness(database_urls)
    LedgerMachine.harness = harness
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        harness.close()


def test_points_released_into_lots_past_their_date_are_not_spendable(database_urls: dict[str, str]) -> None:
    """Four pickups earn 320 points, four holds take them all, 400 days pass: the expiry job finds nothing left in
    the lots, then the lapsed holds give their points back into those lots, past their date. The account row counts
    320 until the next expiry run, yet a hold of 15 is refused and the owner sees 0: the points expired."""
    harness = Harness(database_urls)
    LedgerMachine.harness = harness
    try:
        machine = LedgerMachine()
        for paid_fen in (100, 400, 100, 31_400):
            machine.pick_up_order(paid_fen=paid_fen)
            machine.books_balance()
        for points in (1, 4, 1, 314):
            machine.hold(points=points)
            machine.books_balance()
        machine.time_passes(days=400, hours=0)
        machine.books_balance()

        machine.hold(points=15)
        machine.books_balance()
        assert len(machine.holds) == 4, "the hold of 15 was accepted"
        seen = harness.in_transaction(
            lambda s: ledger.read_account(s, user_id=machine.user, now=harness.now, tz=machine.tz, window_days=31)
        )
        assert (seen.balance, seen.held) == (0, 0)
        machine.books_balance()
    finally:
        harness.close()
