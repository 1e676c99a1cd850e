from __future__ import annotations

from services.common.errors import Conflict, Forbidden, NotFound


class LeaderNotFound(NotFound):
    code = "LEADER_NOT_FOUND"
    title = "No such leader"


class ApplicationNotFound(NotFound):
    code = "APPLICATION_NOT_FOUND"
    title = "No such leader application"


class ApplicationAlreadyPending(Conflict):
    code = "APPLICATION_ALREADY_PENDING"
    title = "This user already has an application waiting for a decision"


class AlreadyALeader(Conflict):
    code = "ALREADY_A_LEADER"
    title = "This user is already a leader"


class ApplicationAlreadyDecided(Conflict):
    code = "APPLICATION_ALREADY_DECIDED"
    title = "This application was already approved or rejected"


class LeaderSuspended(Conflict):
    code = "LEADER_SUSPENDED"
    title = "This leader is suspended"


class ConcurrentLeaderChange(Conflict):
    code = "LEADER_CHANGED_CONCURRENTLY"
    title = "The leader was changed by someone else at the same time; read it again and retry"


class LeaderAccountSuspended(Forbidden):
    code = "LEADER_ACCOUNT_SUSPENDED"
    title = "This leader account is suspended: it cannot act as a leader"


class NotYourLeaders(Forbidden):
    code = "NOT_YOUR_LEADERS"
    title = "A manager lists only the leaders assigned to them"
