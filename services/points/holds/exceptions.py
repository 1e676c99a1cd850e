from __future__ import annotations

from services.common.errors import Conflict, InvalidInput, NotFound


class HoldConflict(Conflict):
    code = "HOLD_CONFLICT"
    title = "This order already holds points with a different request"


class HoldNotFound(NotFound):
    code = "HOLD_NOT_FOUND"
    title = "No points are held for this order"


class HoldAlreadyCommitted(Conflict):
    code = "HOLD_ALREADY_COMMITTED"
    title = "The order was paid: its points are spent and can only come back through a refund"


class PointsOverCap(InvalidInput):
    code = "POINTS_OVER_CAP"
    title = "More points than the deduction cap allows for this order"


class PointsNotUsable(InvalidInput):
    code = "POINTS_NOT_USABLE"
    title = "This number of points does not convert to a whole number of fen"


class PointsReturnExceedsSpent(Conflict):
    code = "POINTS_RETURN_EXCEEDS_SPENT"
    title = "A refund tried to give back more points than the order spent"
