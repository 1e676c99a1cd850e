from __future__ import annotations

from services.common.errors import Conflict


class AlreadySignedIn(Conflict):
    code = "ALREADY_SIGNED_IN"
    title = "Already signed in today"
