from __future__ import annotations

from services.common.errors import Conflict, NotFound


class LevelNotFound(NotFound):
    code = "LEVEL_NOT_FOUND"
    title = "No such level"


class LevelRankTaken(Conflict):
    code = "LEVEL_RANK_TAKEN"
    title = "Another level already has this rank"
