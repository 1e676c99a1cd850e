from __future__ import annotations

from services.common.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable, Unauthorized


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


class OrderNotPayable(Conflict):
    code = "ORDER_NOT_PAYABLE"
    title = "The order is not waiting for payment"


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "PAYMENT_PROVIDER_UNAVAILABLE"
    title = "The payment provider did not answer or refused; try again"


class NotificationEndpointOff(NotFound):
    code = "NOT_FOUND"
    title = "This notification endpoint belongs to another payment provider"


class DevPaymentsDisabled(NotFound):
    code = "NOT_FOUND"
    title = "Development payments are off (ORDERS_DEV_PAYMENTS)"


class ProviderRefundNotFound(NotFound):
    code = "PROVIDER_REFUND_NOT_FOUND"
    title = "No such refund at the payment provider"


class RefundNotParked(Conflict):
    code = "REFUND_NOT_PARKED"
    title = "Only a refund that failed can be retried"


class ReconciliationNotFound(NotFound):
    code = "RECONCILIATION_NOT_FOUND"
    title = "That day has not been reconciled yet"


class ReconciliationFailed(ServiceUnavailable):
    code = "RECONCILIATION_FAILED"
    title = "The provider's bills could not be fetched or read"
