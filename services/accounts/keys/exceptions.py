from __future__ import annotations

from services.common.errors import ServiceUnavailable


class SigningKeysUnavailable(ServiceUnavailable):
    code = "SIGNING_KEYS_UNAVAILABLE"
    title = "The keys that sign tokens are not available"
