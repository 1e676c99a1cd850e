from __future__ import annotations

from services.common.errors import DomainError, InvalidInput, NotFound


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"
    title = "No such user"


class UserErased(DomainError):
    status = 410
    code = "USER_ERASED"
    title = "This user asked to be forgotten; their data is gone"


class BirthdayNotInPast(InvalidInput):
    code = "BIRTHDAY_NOT_IN_PAST"
    title = "A birthday must be a date in the past"
