from __future__ import annotations

from services.common.errors import Conflict


class LevelRankTaken(Conflict):
    code = "LEVEL_RANK_TAKEN"
    title = "Another level already has this rank"
