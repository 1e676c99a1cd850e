"""The whole stack as a real HTTP server for schemathesis: the gateway served by uvicorn on a free loopback port,
wired in-process to the five real services (as in tests/e2e), on the test databases (SQLite, or PostgreSQL when
TEST_POSTGRES_URL is set).

Schemathesis drives its cases synchronously over HTTP, so the stack runs in a thread of its own with its own event
loop: every database connection is made and used on that loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from services.common.migrate import SERVICES
from services.common.testing import StaticServiceTokens, free_port, reset_database
from services.gateway.app import create_app as create_gateway
from tests.conftest import service_settings
from tests.e2e.conftest import Wiring, e2e_gateway_settings


async def _service_apps(database_urls: dict[str, str]) -> dict[str, FastAPI]:
    apps: dict[str, FastAPI] = {}
    for service in SERVICES:
        module = __import__(f"services.{service}.app", fromlist=["create_app"])
        app: FastAPI = module.create_app(service_settings(service, database_urls))
        if service != "accounts":
            app.state.service_tokens = StaticServiceTokens(service)
        await reset_database(app.state.db)
        apps[service] = app
    return apps


class Stack:
    """Started by `serve()`; `base_url` is the gateway's address."""

    def __init__(self, database_urls: dict[str, str]) -> None:
        self._database_urls = database_urls
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._started = threading.Event()
        self._server: uvicorn.Server | None = None
        self._error: BaseException | None = None
        self.apps: dict[str, FastAPI] = {}

    async def _run(self) -> None:
        self.apps = apps = await _service_apps(self._database_urls)
        wiring = Wiring(apps)
        transports: dict[str, httpx.AsyncBaseTransport] = {
            name: httpx.ASGITransport(app=app, raise_app_exceptions=False) for name, app in apps.items()
        }
        gateway = create_gateway(e2e_gateway_settings(), upstream_transports=transports)
        config = uvicorn.Config(gateway, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning")
        self._server = server = uvicorn.Server(config)
        try:
            async with gateway.running():
                serving = asyncio.create_task(server.serve())
                # uvicorn sets a flag once it listens, and has no event to wait on.
                while not server.started and not serving.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                self._started.set()
                await serving
        finally:
            await wiring.client.aclose()
            for app in apps.values():
                await app.state.db.dispose()

    def _thread(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # handed to the test thread
            self._error = exc
        finally:
            self._started.set()

    @contextmanager
    def serve(self) -> Iterator[Stack]:
        thread = threading.Thread(target=self._thread, name="fuzz-stack", daemon=True)
        thread.start()
        self._started.wait(120)
        if self._error is not None:
            raise self._error
        try:
            yield self
        finally:
            if self._server is not None:
                self._server.should_exit = True
            thread.join(60)
