from __future__ import annotations

from services.common.errors import Conflict, NotFound


class BatchNotFound(NotFound):
    code = "DELIVERY_BATCH_NOT_FOUND"
    title = "No such delivery batch"


class BatchAlreadyReceived(Conflict):
    code = "DELIVERY_BATCH_ALREADY_RECEIVED"
    title = "This delivery batch was already received"
