"""The one synchronous call analytics makes: a leader's commission balances and level progress for the dashboard,
owned by the leaders service and read at the moment of the request (with a timeout, never a hang)."""

from __future__ import annotations

from typing import Protocol

import httpx
from pydantic import BaseModel

from services.common.auth import TokenSource
from services.common.errors import ServiceUnavailable


class LeadersUnavailable(ServiceUnavailable):
    code = "LEADERS_UNAVAILABLE"
    title = "The leaders service did not answer; commission and level figures cannot be shown now"


class NextLevel(BaseModel):
    code: str
    name: str
    min_sales_fen: int
    min_completed_orders: int


class LeaderSummary(BaseModel):
    """`GET /internal/leaders/{leader_id}/summary` of the leaders service."""

    leader_id: str
    status: str
    level: str | None
    manager_id: str | None
    pending_fen: int
    available_fen: int
    window_days: int
    window_sales_fen: int
    window_completed_orders: int
    next_level: NextLevel | None
    progress_bp: int | None


class LeadersDirectory(Protocol):
    async def summary(self, leader_id: str) -> LeaderSummary: ...


class HttpLeadersDirectory:
    def __init__(
        self, base_url: str, tokens: TokenSource, *, timeout_seconds: float, client: httpx.AsyncClient | None = None
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds)
        self._owns_client = client is None

    async def summary(self, leader_id: str) -> LeaderSummary:
        url = f"{self._base_url}/internal/leaders/{leader_id}/summary"
        try:
            response = await self._client.get(url, headers={"Authorization": f"Bearer {await self._tokens.token()}"})
        except httpx.HTTPError as exc:
            raise LeadersUnavailable(f"The leaders service did not answer: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise LeadersUnavailable(f"The leaders service answered {response.status_code} for leader {leader_id}")
        return LeaderSummary.model_validate_json(response.content)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
