from __future__ import annotations

from services.common.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable


class WithdrawalNotFound(NotFound):
    code = "WITHDRAWAL_NOT_FOUND"
    title = "No such withdrawal"


class InsufficientBalance(Conflict):
    code = "INSUFFICIENT_BALANCE"
    title = "The available commission does not cover this withdrawal"


class WithdrawalBelowMinimum(InvalidInput):
    code = "WITHDRAWAL_BELOW_MINIMUM"
    title = "The amount is below the minimum withdrawal"


class WithdrawalAlreadyDecided(Conflict):
    code = "WITHDRAWAL_ALREADY_DECIDED"
    title = "This withdrawal was already approved or rejected"


class PayoutFailed(ServiceUnavailable):
    code = "PAYOUT_FAILED"
    title = "The payout provider did not pay; the withdrawal stays requested"
