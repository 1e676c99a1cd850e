from __future__ import annotations

from services.common.errors import InvalidInput, ServiceUnavailable


class InvalidRange(InvalidInput):
    code = "INVALID_RANGE"
    title = "The date range is not valid"


class LeadersUnavailable(ServiceUnavailable):
    code = "LEADERS_UNAVAILABLE"
    title = "The leaders service did not answer; commission and level figures cannot be shown now"
