from __future__ import annotations

from services.common.errors import Conflict, NotFound


class CategoryNotFound(NotFound):
    code = "CATEGORY_NOT_FOUND"
    title = "No such category"


class CategoryCycle(Conflict):
    code = "CATEGORY_CYCLE"
    title = "A category cannot sit under itself or under one of its own descendants"
