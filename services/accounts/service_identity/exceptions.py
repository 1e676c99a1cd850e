from __future__ import annotations

from services.common.errors import Unauthorized


class ServiceCredentialsInvalid(Unauthorized):
    code = "SERVICE_CREDENTIALS_INVALID"
    title = "Unknown service or wrong secret"
