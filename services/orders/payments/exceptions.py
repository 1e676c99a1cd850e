from __future__ import annotations

from services.common.errors import Conflict, InvalidInput, NotFound, Unauthorized


class InvalidSignature(Unauthorized):
    code = "INVALID_SIGNATURE"
    title = "The payment notification signature is missing or wrong"


class AmountMismatch(InvalidInput):
    code = "AMOUNT_MISMATCH"
    title = "The paid amount is not what the order asks for"


class PaymentOrderNotFound(NotFound):
    code = "ORDER_NOT_FOUND"
    title = "The notification names an order that does not exist"


class TransactionConflict(Conflict):
    code = "TRANSACTION_CONFLICT"
    title = "This transaction id was already reported with another order or amount"
