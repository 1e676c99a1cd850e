from __future__ import annotations

from services.common.errors import Conflict, Forbidden, NotFound


class AfterSaleNotFound(NotFound):
    code = "AFTER_SALE_NOT_FOUND"
    title = "No such after-sale request"


class AfterSaleExceedsPurchase(Conflict):
    code = "AFTER_SALE_EXCEEDS_PURCHASE"
    title = "More units asked for than were bought and are not refunded or asked for already"


class AfterSaleNotOpen(Conflict):
    code = "AFTER_SALE_NOT_OPEN"
    title = "The after-sale request is not in a state that allows this"


class AfterSaleChanged(Conflict):
    code = "AFTER_SALE_CHANGED"
    title = "Somebody else acted on the after-sale request first; read it again"


class AppealUsed(Conflict):
    code = "AFTER_SALE_APPEAL_USED"
    title = "A rejected request may be appealed once"


class NotAfterSaleOwner(Forbidden):
    code = "NOT_AFTER_SALE_OWNER"
    title = "Only the customer who asked may do this"


class NotAfterSaleReviewer(Forbidden):
    code = "NOT_AFTER_SALE_REVIEWER"
    title = "Only the order's leader or after-sale staff may decide this request"


class OverLeaderLimit(Forbidden):
    code = "AFTER_SALE_OVER_LEADER_LIMIT"
    title = "The amount is above what a leader may approve; escalate the request"


class FinanceApprovalRequired(Forbidden):
    code = "AFTER_SALE_FINANCE_REQUIRED"
    title = "The amount is above what support may approve; finance decides"
