from __future__ import annotations

from services.common.errors import Conflict, NotFound


class InsufficientPoints(Conflict):
    code = "INSUFFICIENT_POINTS"
    title = "The points balance is not enough for this"


class AccountNotFound(NotFound):
    code = "POINTS_ACCOUNT_NOT_FOUND"
    title = "This user has no points account"
