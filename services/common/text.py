"""Text callers send: one set of constrained string types for every service's requests.

Every string a caller sends is checked before it reaches a database: PostgreSQL cannot store NUL (a 500 there)
and SQLite would store it, and the other control characters (C0, DEL, C1) have no place in a name, a code or a
reason either: they break logs, exports and whoever displays them. Each refusal is a 422 naming the field. Line
breaks and tabs are allowed in free text only (descriptions, messages). Lone surrogates, which no database can
encode, are refused by any constrained string type.

Use `Line` for anything on one line and `Text` for free text, narrowed with the field's own lengths:
`Annotated[Line, StringConstraints(min_length=1, max_length=50)]`. Lengths add up; a second `pattern` would
replace the first, so a field with its own pattern builds it from `CONTROL` (see `URL_PATTERN`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

#: Every control character (C0 with tab and line breaks, DEL, C1), as the inside of a character class: a field
#: with a pattern of its own excludes them with `[^...{CONTROL}]`.
CONTROL = r"\x00-\x1f\x7f-\x9f"
SINGLE_LINE_PATTERN = rf"^[^{CONTROL}]*$"
#: Free text may hold tabs and line feeds, no other control character (no carriage return: lines end with \n).
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
#: An http(s) address: no spaces, no control characters.
URL_PATTERN = rf"^https?://[^\s{CONTROL}]+$"
#: Visible ASCII only (keys, references, provider ids).
VISIBLE_ASCII_PATTERN = r"^[\x21-\x7e]+$"

#: Text on one line: a name, a title, a reason, a code, an id in a filter.
Line = Annotated[str, StringConstraints(strip_whitespace=True, pattern=SINGLE_LINE_PATTERN)]
#: Free text that may run over several lines: a description, a message.
Text = Annotated[str, StringConstraints(strip_whitespace=True, pattern=MULTI_LINE_PATTERN)]
#: A password or another secret: kept exactly as typed (no stripping), but still one line of text.
Secret = Annotated[str, StringConstraints(pattern=SINGLE_LINE_PATTERN)]
#: An opaque token or one-time code issued by us or a provider: visible ASCII only.
AsciiToken = Annotated[str, StringConstraints(pattern=VISIBLE_ASCII_PATTERN)]
#: A photo or another resource stored elsewhere (object storage): only its address is kept.
WebUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=URL_PATTERN)]


def digits(count: int) -> str:
    """The pattern of exactly `count` ASCII digits. Never `\\d`, which also matches full-width (０-９) and
    Arabic-Indic digits: such a code would pass validation and then never match (or crash a conversion)."""
    return rf"^[0-9]{{{count}}}$"
