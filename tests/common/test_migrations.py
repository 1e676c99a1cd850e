"""Each service's migrations build its schema from empty, and the models have not drifted from them."""

from __future__ import annotations

import pytest

from services.common import migrate


@pytest.mark.parametrize("service", migrate.SERVICES)
def test_migrations_apply_from_empty_and_match_the_models(database_urls: dict[str, str], service: str) -> None:
    # `database_urls` were created empty and upgraded to head by the session fixture; `check` autogenerates a
    # diff between that schema and the models and fails on any difference.
    migrate.check(service, database_urls[service])
