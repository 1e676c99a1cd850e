from __future__ import annotations

from services.common.errors import InvalidInput


class InvalidRange(InvalidInput):
    code = "INVALID_RANGE"
    title = "The date range is not valid"
