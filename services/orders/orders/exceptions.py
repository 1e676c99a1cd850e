from __future__ import annotations

from services.common.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class OrderNotFound(NotFound):
    code = "ORDER_NOT_FOUND"
    title = "No such order"


class OrderLineNotFound(InvalidInput):
    code = "ORDER_LINE_NOT_FOUND"
    title = "The order has no such line"


class ProductUnavailable(InvalidInput):
    code = "PRODUCT_NOT_FOUND"
    title = "A product on the order does not exist"


class OutOfStock(Conflict):
    code = "OUT_OF_STOCK"
    title = "Not enough stock for a product on the order"


class DuplicateProduct(InvalidInput):
    code = "DUPLICATE_PRODUCT"
    title = "Each product may appear on one line only"


class TooManyLines(InvalidInput):
    code = "TOO_MANY_LINES"
    title = "The order has more lines than allowed"


class QuantityTooLarge(InvalidInput):
    code = "QUANTITY_TOO_LARGE"
    title = "A line asks for more units than one order may take"


class UnknownLeader(InvalidInput):
    code = "LEADER_NOT_FOUND"
    title = "No such leader (pickup point)"


class LeaderNotActive(Conflict):
    code = "LEADER_NOT_ACTIVE"
    title = "This leader's pickup point does not take orders now"


class OrderNotCancellable(Conflict):
    code = "ORDER_NOT_CANCELLABLE"
    title = "Only an unpaid order can be cancelled"


class InvalidOrderState(Conflict):
    code = "INVALID_ORDER_STATE"
    title = "The order is not in a state that allows this"


class NotOrderLeader(Forbidden):
    code = "NOT_ORDER_LEADER"
    title = "Only the order's leader may do this"


class NotOrderOwner(Forbidden):
    code = "NOT_ORDER_OWNER"
    title = "Only the customer who placed the order may do this"


class LeaderAccountSuspended(Forbidden):
    code = "LEADER_ACCOUNT_SUSPENDED"
    title = "This leader account is suspended: it cannot act as a pickup point"


class LeaderFilterForbidden(Forbidden):
    code = "LEADER_FILTER_FORBIDDEN"
    title = "A leader may only list orders at their own pickup point"


class WrongPickupCode(InvalidInput):
    code = "WRONG_PICKUP_CODE"
    title = "The pickup code is wrong"
    # The failed attempt counts towards the lock, so it must be committed with the refusal.
    keeps_writes = True


class PickupLocked(DomainError):
    status = 423
    code = "PICKUP_LOCKED"
    title = "Too many wrong pickup codes; try again later"
    # The attempt that locked the order resets the counter and sets the lock: both must be committed.
    keeps_writes = True


class RefundExceedsPurchase(Conflict):
    code = "REFUND_EXCEEDS_PURCHASE"
    title = "More units would be refunded than were bought"


class OrderNotRefundable(Conflict):
    code = "ORDER_NOT_REFUNDABLE"
    title = "This order cannot be refunded in its current state"


class AfterSaleWindowClosed(Conflict):
    code = "AFTER_SALE_WINDOW_CLOSED"
    title = "The after-sale window of this order has closed"


class AfterSaleRequired(Conflict):
    code = "AFTER_SALE_REQUIRED"
    title = "The goods have left the warehouse: ask for a refund with an after-sale request"


class ProductNotOnSale(Conflict):
    code = "PRODUCT_NOT_ON_SALE"
    title = "A product or SKU on the order is off shelf or archived"


class SkuRequired(InvalidInput):
    code = "SKU_REQUIRED"
    title = "The product has several SKUs: the line must name one"


class SkuUnavailable(InvalidInput):
    code = "SKU_NOT_FOUND"
    title = "The product has no such SKU"


class GroupBuyUnavailable(InvalidInput):
    code = "GROUP_BUY_NOT_FOUND"
    title = "No such group-buy"


class GroupBuyNotOpen(Conflict):
    code = "GROUP_BUY_NOT_OPEN"
    title = "The group-buy does not take orders now"


class GroupBuyNotInRegion(Conflict):
    code = "GROUP_BUY_NOT_IN_REGION"
    title = "The group-buy does not serve the region of this pickup point"


class NotInGroupBuy(Conflict):
    code = "NOT_IN_GROUP_BUY"
    title = "A product or SKU on the order is not part of the group-buy"


class GroupBuyLimitReached(Conflict):
    code = "GROUP_BUY_LIMIT_REACHED"
    title = "The order would take more units of a product than one customer may buy in this group-buy"


class CustomerFilterForbidden(Forbidden):
    code = "CUSTOMER_FILTER_FORBIDDEN"
    title = "Only staff who read orders may list another customer's orders"


class TooManyUnpaidOrders(Conflict):
    code = "TOO_MANY_UNPAID_ORDERS"
    title = "The customer already has as many unpaid orders as allowed: pay or cancel one first"


class TooManyUnpaidUnits(Conflict):
    code = "TOO_MANY_UNPAID_UNITS"
    title = "The order would hold more unpaid units than a customer may: pay or cancel an unpaid order first"
