from __future__ import annotations

from services.common.errors import Conflict, NotFound


class NotAMember(NotFound):
    code = "NOT_A_MEMBER"
    title = "You are not a member of this leader's community"


class SwitchingNotAllowed(Conflict):
    code = "SWITCHING_NOT_ALLOWED"
    title = "Customers cannot switch communities"


class MembershipLocked(Conflict):
    code = "MEMBERSHIP_LOCKED"
    title = "A customer stays in a community for a while after joining it"


class MembershipChangedConcurrently(Conflict):
    code = "MEMBERSHIP_CHANGED_CONCURRENTLY"
    title = "Your membership changed at the same time; retry"


class NoCommunity(NotFound):
    code = "NO_COMMUNITY"
    title = "You have not joined a community"
