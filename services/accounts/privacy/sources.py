"""Where the rest of a person's data lives: each service answers `GET /internal/users/{id}/export` with a JSON
object of everything it holds about them (an empty object when nothing), for a service token."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Protocol
from urllib.parse import quote

import httpx
from fastapi import Depends

from services.accounts.privacy.exceptions import ExportSourceUnavailable
from services.common.app import from_app_state

log = logging.getLogger("services.accounts.export")


class ExportSource(Protocol):
    name: str

    async def export(self, user_id: str) -> dict[str, Any]:
        """Everything this source holds about the user; raises `ExportSourceUnavailable` when it cannot say."""
        ...


class HttpExportSource:
    def __init__(
        self, name: str, base_url: str, *, client: httpx.AsyncClient, token: Callable[[], str], timeout_seconds: float
    ) -> None:
        self.name = name
        self._url = base_url.rstrip("/")
        self._client = client
        self._token = token
        self._timeout = timeout_seconds

    async def export(self, user_id: str) -> dict[str, Any]:
        url = f"{self._url}/internal/users/{quote(user_id, safe='')}/export"
        unavailable = f"The {self.name} service could not export the data it holds"
        try:
            response = await self._client.get(
                url, headers={"Authorization": f"Bearer {self._token()}"}, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            log.warning("export source unreachable", extra={"source": self.name, "error": type(exc).__name__})
            raise ExportSourceUnavailable(unavailable, source=self.name) from exc
        if response.status_code != 200:
            log.warning("export source failed", extra={"source": self.name, "status": response.status_code})
            raise ExportSourceUnavailable(unavailable, source=self.name)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ExportSourceUnavailable(unavailable, source=self.name)
        return body


#: The one `create_app` put on the app state (tests pass fakes to `create_app`).
ExportSourcesDep = Annotated[Sequence[ExportSource], Depends(from_app_state("export_sources"))]
