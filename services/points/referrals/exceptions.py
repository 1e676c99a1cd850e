from __future__ import annotations

from services.common.errors import Conflict, InvalidInput, NotFound


class InviteCodeNotFound(NotFound):
    code = "INVITE_CODE_NOT_FOUND"
    title = "No user has this invite code"


class SelfInvite(InvalidInput):
    code = "SELF_INVITE"
    title = "A user cannot use their own invite code"


class ReferralCycle(Conflict):
    code = "REFERRAL_CYCLE"
    title = "Binding to this inviter would make an invitation cycle"


class AlreadyBound(Conflict):
    code = "ALREADY_BOUND"
    title = "This user is already bound to another inviter"
