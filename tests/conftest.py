"""Shared fixtures: each service gets a database migrated once per run (SQLite by default, PostgreSQL when
TEST_POSTGRES_URL is set) and emptied before every test; apps are built per test and called in-process.

Markers: tests marked `postgres` run only when TEST_POSTGRES_URL is set (real parallel connections), tests marked
`redis` only when TEST_REDIS_URL is set, tests marked `nats` only when TEST_NATS_URL is set.

Hypothesis profiles: `ci`, the default, replays the same examples on every run (derandomized, no example database)
with a small budget and a bounded shrink, so `make test` cannot pass on one run and fail on the next. A
`--hypothesis-seed=N` on the command line is honoured: that run explores the examples of seed N, the same ones
every time. `deep` (`make test-deep`) searches at random with many more and longer examples, keeps failures in
`.hypothesis/` and replays them first next time.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.internal.conjecture import engine as hypothesis_engine

from services.common import migrate
from services.common.testing import (
    POSTGRES_ENV,
    StaticServiceTokens,
    asgi_client,
    drop_database,
    jwks_url_for_tests,
    keys_dir_for_tests,
    prepare_database,
    reset_database,
)

_ENV_FOR_MARKER = {"postgres": POSTGRES_ENV, "redis": "TEST_REDIS_URL", "nats": "TEST_NATS_URL"}

# Both profiles start from Hypothesis' defaults, not from whichever profile is loaded now (Hypothesis loads its own
# `ci` when the CI variable is set). Model tests run steps against a database: their timing varies, so no deadline.
_DEFAULTS = hypothesis_settings.get_profile("default")
hypothesis_settings.register_profile(
    "ci",
    _DEFAULTS,
    derandomize=True,
    max_examples=20,
    stateful_step_count=20,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "deep",
    _DEFAULTS,
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile("ci")
#: Longest a `ci` run shrinks one failure. The example it reports may then be longer than necessary; it is the same
#: on every run, and `make test-deep` shrinks without this bound (Hypothesis' own limit is five minutes).
CI_SHRINK_SECONDS = 60


@pytest.hookimpl(trylast=True)  # after Hypothesis' plugin has loaded the profile and seed given on the command line
def pytest_configure(config: pytest.Config) -> None:
    for marker, env in _ENV_FOR_MARKER.items():
        config.addinivalue_line("markers", f"{marker}: needs {env} (skipped otherwise)")
    profile = hypothesis_settings.get_current_profile_name()
    loaded = hypothesis_settings.get_profile(profile)
    if config.getoption("--hypothesis-seed", None) is not None and loaded.derandomize:
        # Derandomizing would ignore the seed; with it the run is just as repeatable and explores other examples.
        hypothesis_settings.register_profile(f"{profile}-seeded", loaded, derandomize=False)
        hypothesis_settings.load_profile(f"{profile}-seeded")
    if profile == "ci":
        hypothesis_engine.MAX_SHRINKING_SECONDS = CI_SHRINK_SECONDS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker, env in _ENV_FOR_MARKER.items():
            if item.get_closest_marker(marker) and not os.environ.get(env):
                item.add_marker(pytest.mark.skip(reason=f"{env} is not set"))


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp: Path = tmp_path_factory.mktemp("db")
    urls = {service: prepare_database(service, tmp) for service in migrate.SERVICES}
    for service, url in urls.items():
        migrate.upgrade(service, url)
    yield urls
    for url in urls.values():
        drop_database(url)


def service_settings(service: str, database_urls: dict[str, str], **overrides: Any) -> Any:
    """A service's settings for tests: its test database, and tokens verified with the test key's JWKS (accounts
    signs with that key, so what it issues verifies everywhere; `services.common.testing.bearer` signs with it)."""
    module = __import__(f"services.{service}.config", fromlist=["Settings"])
    values: dict[str, Any] = {
        "database_url": database_urls[service],
        "log_json": False,
        "auth_jwks_url": jwks_url_for_tests(),
    }
    if service == "accounts":
        values |= {"signing_keys_dir": keys_dir_for_tests(), "export_sources": {}, "dev_auth": True}
    return module.Settings(**(values | overrides))


AppFactory = Callable[..., Awaitable[FastAPI]]


@pytest.fixture
async def make_app(database_urls: dict[str, str]) -> AsyncIterator[AppFactory]:
    """`await make_app("points", signin_schedule=...)`: a service app on an emptied database, settings overridden."""
    apps: list[FastAPI] = []

    async def factory(service: str, **overrides: Any) -> FastAPI:
        module = __import__(f"services.{service}.app", fromlist=["create_app"])
        app: FastAPI = module.create_app(service_settings(service, database_urls, **overrides))
        if service != "accounts":
            # The service's own token is signed with the test key, not asked of an accounts service.
            app.state.service_tokens = StaticServiceTokens(service)
            if service == "orders":
                app.state.upstream.tokens = app.state.service_tokens
        if not apps or all(a.state.service != service for a in apps):
            await reset_database(app.state.db)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.state.db.dispose()


@pytest.fixture
async def orders_app(make_app: AppFactory) -> FastAPI:
    return await make_app("orders")


@pytest.fixture
async def leaders_app(make_app: AppFactory) -> FastAPI:
    return await make_app("leaders")


@pytest.fixture
async def points_app(make_app: AppFactory) -> FastAPI:
    return await make_app("points")


@pytest.fixture
async def orders_client(orders_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(orders_app) as client:
        yield client


@pytest.fixture
async def leaders_client(leaders_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(leaders_app) as client:
        yield client


@pytest.fixture
async def points_client(points_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(points_app) as client:
        yield client
