"""Strings callers send to the after-sale, shortage and ticket resources. Each refuses the NUL character, which
PostgreSQL cannot store or compare (a 500 there, a stored oddity on SQLite): a 422 on both."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

_NO_NUL = r"^[^\x00]*$"

#: Why someone decided as they did.
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NO_NUL)]
#: A customer's account of what went wrong (may be empty).
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000, pattern=_NO_NUL)]
#: The text of a ticket or a reply.
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=_NO_NUL)]
#: A user id (the JWT `sub`) in a filter or an assignment.
UserRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
#: A photo uploaded elsewhere (object storage): only its address is kept.
ImageUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https?://[^\s\x00]+$")]
