from __future__ import annotations

from services.common.errors import NotFound


class LevelNotFound(NotFound):
    code = "LEVEL_NOT_FOUND"
    title = "No such level"
