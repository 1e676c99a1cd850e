"""What the leaders service holds about a person, and how it forgets them.

Export: the person's applications, their leader profile and its history, their community membership, and, for a
leader, their commission account, ledger, withdrawals and level moves; for a customer, the commission their
purchases earned (which leader, which order lines).

Erasure (`user.erased`): names and phones become "(erased)"/empty in applications, the leader profile and the
leader's recorded events (the outbox a read model is rebuilt from), and the pickup points proposed in applications
go too (a live leader's pickup point stays on the leader: it is a shop front). Ledgers, accruals and withdrawals
keep every amount and id, so balances stay exactly as they were.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.common.privacy import ERASED, PersonalTable, by_column, forget_idempotent_responses
from services.leaders.commission.models import CommissionAccount, CommissionAccrual, CommissionEntry
from services.leaders.communities.models import Membership, MembershipEvent
from services.leaders.db import metadata, outbox
from services.leaders.ladder.models import LevelChange
from services.leaders.profiles import repository as profiles
from services.leaders.profiles.models import Leader, LeaderApplication, LeaderChange
from services.leaders.sales.models import LeaderOrder
from services.leaders.withdrawals.models import Withdrawal


def personal_tables() -> list[PersonalTable]:
    return [
        by_column(LeaderApplication, "applicant_id"),
        by_column(Leader, "leader_id"),
        by_column(LeaderChange, "leader_id"),
        by_column(LevelChange, "leader_id"),
        by_column(Membership, "customer_id"),
        by_column(MembershipEvent, "customer_id"),
        by_column(CommissionAccount, "leader_id"),
        by_column(CommissionEntry, "leader_id"),
        by_column(CommissionAccrual, "leader_id", "customer_id"),
        by_column(LeaderOrder, "customer_id"),
        by_column(Withdrawal, "leader_id"),
    ]


async def erase_person(session: AsyncSession, *, user_id: str) -> None:
    """Anonymise the person; every amount, id and date stays."""
    await profiles.anonymise_applications(session, user_id, keep_pickup=False)
    await profiles.anonymise_leader(session, user_id)
    # The leader's own events carry their name to the read models (and to a rebuild from this outbox).
    await outbox.redact(session, aggregate=f"leader:{user_id}", replacements={"name": ERASED})
    await forget_idempotent_responses(session, metadata, user_id)
