"""The strict shared types: what lax pydantic would quietly accept is refused."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from services.common.types import AwareDatetime


class _Window(BaseModel):
    at: AwareDatetime


@pytest.mark.parametrize("raw", ['{"at": 0}', '{"at": 1796187714}', '{"at": true}', '{"at": 1.5}'])
def test_a_number_is_not_a_timestamp(raw: str) -> None:
    with pytest.raises(ValidationError, match="RFC 3339"):
        _Window.model_validate_json(raw)


def test_a_timestamp_needs_an_offset() -> None:
    with pytest.raises(ValidationError, match="offset"):
        _Window.model_validate_json('{"at": "2026-12-01T08:00:00"}')
    assert _Window.model_validate_json('{"at": "2026-12-01T08:00:00+08:00"}').at.utcoffset() is not None
