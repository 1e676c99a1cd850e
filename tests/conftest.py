"""Shared fixtures: each service gets a database migrated once per run (SQLite by default, PostgreSQL when
TEST_POSTGRES_URL is set) and emptied before every test; apps are built per test and called in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from services.common import migrate
from services.common.testing import (
    TEST_JWT_SECRET,
    asgi_client,
    drop_database,
    prepare_database,
    reset_database,
)


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
    module = __import__(f"services.{service}.config", fromlist=["Settings"])
    return module.Settings(database_url=database_urls[service], jwt_secret=TEST_JWT_SECRET, log_json=False, **overrides)


async def _service_app(service: str, database_urls: dict[str, str], **overrides: Any) -> FastAPI:
    module = __import__(f"services.{service}.app", fromlist=["create_app"])
    app: FastAPI = module.create_app(service_settings(service, database_urls, **overrides))
    await reset_database(app.state.db)
    return app


@pytest.fixture
async def orders_app(database_urls: dict[str, str]) -> AsyncIterator[FastAPI]:
    app = await _service_app("orders", database_urls)
    yield app
    await app.state.db.dispose()


@pytest.fixture
async def orders_client(orders_app: FastAPI) -> AsyncIterator[Any]:
    async with asgi_client(orders_app) as client:
        yield client
