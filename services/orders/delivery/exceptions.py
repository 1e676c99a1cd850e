from __future__ import annotations

from services.common.errors import Conflict, InvalidInput, NotFound


class BatchNotFound(NotFound):
    code = "DELIVERY_BATCH_NOT_FOUND"
    title = "No such delivery batch"


class BatchAlreadyReceived(Conflict):
    code = "DELIVERY_BATCH_ALREADY_RECEIVED"
    title = "This delivery batch was already received"


class DuplicateShortage(InvalidInput):
    code = "DUPLICATE_SHORTAGE"
    title = "Each product and kind may be reported once per receipt"


class ShortageNotInBatch(InvalidInput):
    code = "SHORTAGE_PRODUCT_NOT_IN_BATCH"
    title = "A product reported short is not waiting for delivery in this batch"


class ShortageExceedsDelivery(InvalidInput):
    code = "SHORTAGE_EXCEEDS_DELIVERY"
    title = "More units reported short than the batch brings of that product"
