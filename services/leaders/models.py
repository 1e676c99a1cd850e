"""Every table of the leaders service, imported in one place so the metadata (and Alembic) sees them all."""

from services.leaders.commission.models import (
    CommissionAccount,
    CommissionAccrual,
    CommissionEntry,
    CommissionReversal,
    CommissionRule,
)
from services.leaders.communities.models import Membership, MembershipEvent
from services.leaders.db import metadata
from services.leaders.ladder.models import Level, LevelChange
from services.leaders.profiles.models import Leader, LeaderApplication, LeaderChange, ManagerContact
from services.leaders.sales.models import LeaderOrder, LeaderRefund
from services.leaders.withdrawals.models import Withdrawal

__all__ = [
    "CommissionAccount",
    "CommissionAccrual",
    "CommissionEntry",
    "CommissionReversal",
    "CommissionRule",
    "Leader",
    "LeaderApplication",
    "LeaderChange",
    "LeaderOrder",
    "LeaderRefund",
    "Level",
    "LevelChange",
    "ManagerContact",
    "Membership",
    "MembershipEvent",
    "Withdrawal",
    "metadata",
]
