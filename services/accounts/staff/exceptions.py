from __future__ import annotations

from services.common.errors import Conflict, DomainError, Forbidden, NotFound, Unauthorized


class StaffNotFound(NotFound):
    code = "STAFF_NOT_FOUND"
    title = "No such staff account"


class StaffUsernameTaken(Conflict):
    code = "STAFF_USERNAME_TAKEN"
    title = "Another staff account has this username"


class StaffChangedConcurrently(Conflict):
    code = "STAFF_CHANGED_CONCURRENTLY"
    title = "The staff account changed while you were changing it; read it again"


class CannotDemoteYourself(Conflict):
    code = "CANNOT_DEMOTE_YOURSELF"
    title = "You cannot take `ops` from, or deactivate, your own account"


class StaffCredentialsInvalid(Unauthorized):
    code = "STAFF_CREDENTIALS_INVALID"
    title = "Wrong username or password"


class StaffAccountLocked(DomainError):
    status = 429
    code = "STAFF_ACCOUNT_LOCKED"
    title = "Too many wrong passwords; this account is locked for a while"


class StaffAccountDisabled(Forbidden):
    code = "STAFF_ACCOUNT_DISABLED"
    title = "This staff account is disabled"
