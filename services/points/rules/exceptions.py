from __future__ import annotations

from services.common.errors import Conflict


class RulesChangedConcurrently(Conflict):
    code = "RULES_CHANGED_CONCURRENTLY"
    title = "The rules were changed by someone else at the same time; read them again and retry"
