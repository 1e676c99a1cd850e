"""Every table of the points service, imported in one place so the metadata (and Alembic) sees them all."""

from services.points.db import metadata
from services.points.holds.models import Hold, HoldLot
from services.points.ledger.models import Account, Entry, Lot
from services.points.purchases.models import PurchaseAward, RefundApplied
from services.points.referrals.models import InviteCode, InviterDailyRewards, Referral, TaskReward
from services.points.rules.models import RuleVersion
from services.points.signins.models import SignIn

__all__ = [
    "Account",
    "Entry",
    "Hold",
    "HoldLot",
    "InviteCode",
    "InviterDailyRewards",
    "Lot",
    "PurchaseAward",
    "Referral",
    "RefundApplied",
    "RuleVersion",
    "SignIn",
    "TaskReward",
    "metadata",
]
