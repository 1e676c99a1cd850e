from __future__ import annotations

from services.common.errors import Conflict, NotFound


class TagNotFound(NotFound):
    code = "TAG_NOT_FOUND"
    title = "No such customer tag"


class TagExists(Conflict):
    code = "TAG_EXISTS"
    title = "A tag with this code exists"
