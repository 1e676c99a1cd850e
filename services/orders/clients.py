"""The two services the orders service calls synchronously, behind small interfaces.

`create_app` puts an implementation of each on `app.state` (`leaders`, `points`, and `effects` for reconciliation;
`receiving` comes from `reconciliation/receiving.py`); tests swap in in-memory fakes.
The HTTP implementations share one pooled `httpx.AsyncClient` per app, carry a short timeout and the orders
service's own token (from accounts),
and turn every failure into a clear problem: upstream down → 503, no answer in time → 504, a refusal by the points
service → its own code (409/422).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from services.common.auth import TokenSource
from services.common.errors import Conflict, DomainError, InvalidInput, ServiceUnavailable, UpstreamTimeout

log = logging.getLogger("services.orders.clients")


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    leader_id: str
    status: str
    level: str | None
    pickup_point: dict[str, Any] | None
    #: "city/district" (or "city") of the leader's pickup point: the region whose group-buys its community sees.
    region: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Hold:
    points: int
    discount_fen: int


class LeaderDirectory(Protocol):
    async def get_leader(self, leader_id: str, *, fresh: bool = False) -> LeaderInfo | None:
        """The leader as leaders knows them; `fresh` asks now, never a cached answer (for a leader's own actions,
        which a suspension must stop at once)."""
        ...


class PointsClient(Protocol):
    async def hold(self, *, order_id: int, user_id: str, points: int, goods_fen: int) -> Hold: ...

    async def release(self, *, order_id: int) -> None: ...

    async def waiting_holds(self, *, created_before: datetime, limit: int) -> list[int]:
        """Order ids of holds neither committed nor released, made before `created_before`."""
        ...


class LeadersUnavailable(ServiceUnavailable):
    code = "LEADERS_UNAVAILABLE"
    title = "The leaders service is unavailable"


class LeadersTimeout(UpstreamTimeout):
    code = "LEADERS_TIMEOUT"
    title = "The leaders service did not answer in time"


class PointsUnavailable(ServiceUnavailable):
    code = "POINTS_UNAVAILABLE"
    title = "The points service is unavailable"


class PointsTimeout(UpstreamTimeout):
    code = "POINTS_TIMEOUT"
    title = "The points service did not answer in time"


class InsufficientPoints(Conflict):
    code = "INSUFFICIENT_POINTS"
    title = "Not enough points"


class HoldConflict(Conflict):
    code = "HOLD_CONFLICT"
    title = "Points were already held for this order with other values"


class PointsRefused(Conflict):
    code = "POINTS_REFUSED"
    title = "The points service refused the request"


class PointsNotUsable(InvalidInput):
    code = "POINTS_NOT_USABLE"
    title = "These points cannot be used on this order"


_refusals: dict[tuple[int, str], type[DomainError]] = {
    (409, InsufficientPoints.code): InsufficientPoints,
    (409, HoldConflict.code): HoldConflict,
}


def points_refusal(status: int, code: str | None) -> type[DomainError]:
    """The error class for a refusal by the points service, keeping its code so callers see the real reason."""
    base: type[DomainError] = PointsRefused if status == 409 else PointsNotUsable
    if not code or not code.replace("_", "").isalnum():
        return base
    key = (status, code)
    if key not in _refusals:
        _refusals[key] = type(code.title().replace("_", ""), (base,), {"code": code, "title": base.title})
    return _refusals[key]


class UpstreamClients:
    """One pooled HTTP client for the app, created on first use and closed on shutdown."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        tokens: TokenSource,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._timeout = timeout_seconds
        #: Where the orders service's own token comes from (tests put a stand-in here).
        self.tokens = tokens
        # Tests pass a client whose transports reach the other services in-process.
        self._client: httpx.AsyncClient | None = client

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return self._client

    async def headers(self) -> dict[str, str]:
        """The Authorization header with the orders service's own token (503 when accounts cannot give one)."""
        return {"Authorization": f"Bearer {await self.tokens.token()}"}

    async def ask(
        self, url: str, body: dict[str, Any], *, unavailable: type[ServiceUnavailable], timed_out: type[UpstreamTimeout]
    ) -> Any:
        """POST an internal question as this service; its JSON answer, or the 503/504 `unavailable`/`timed_out`."""
        try:
            response = await self.client.post(url, json=body, headers=await self.headers())
        except httpx.TimeoutException as exc:
            raise timed_out() from exc
        except httpx.HTTPError as exc:
            raise unavailable() from exc
        if response.status_code != 200:
            raise unavailable(f"Reconciliation query answered {response.status_code}")
        return response.json()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _problem_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


#: How old a cached leader may be and still answer while the leaders service is failing.
STALE_LEADER_SECONDS = 300.0


class HttpLeaderDirectory:
    """`GET {leaders_url}/internal/leaders/{leader_id}`; 404 means the leader does not exist.

    Answers are cached for `cache_seconds`, and lookups of one leader share one request while it is in flight: at a
    flash sale's start thousands of buyers of one pickup point miss the cache together, and each asking leaders
    itself queued them behind each other until they timed out (bench/README.md, the burst)."""

    def __init__(self, upstream: UpstreamClients, base_url: str, *, cache_seconds: float = 0.0) -> None:
        self._upstream = upstream
        self._base_url = base_url
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, LeaderInfo | None]] = {}
        self._in_flight: dict[str, asyncio.Future[LeaderInfo | None]] = {}

    async def get_leader(self, leader_id: str, *, fresh: bool = False) -> LeaderInfo | None:
        if fresh:
            # A leader's own action must see a suspension at once: its own request, never one already under way.
            return await self._fetch_and_cache(leader_id)
        cached = self._cache.get(leader_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        shared = self._in_flight.get(leader_id)
        if shared is None:
            shared = asyncio.ensure_future(self._fetch_and_cache(leader_id))
            self._in_flight[leader_id] = shared
            shared.add_done_callback(lambda done: self._done(leader_id, done))
        try:
            # Shielded: a caller that gives up (its request cancelled) does not cancel the others' lookup.
            return await asyncio.shield(shared)
        except (LeadersUnavailable, LeadersTimeout):
            # One failed lookup answers every purchase waiting on it: where leaders answered for this leader a
            # little while ago, that answer serves until leaders is back (a leader's own actions ask `fresh`).
            if cached is None or now - cached[0] > STALE_LEADER_SECONDS:
                raise
            log.warning("leaders lookup failed: the last answer serves", extra={"leader_id": leader_id})
            return cached[1]

    def _done(self, leader_id: str, done: asyncio.Future[LeaderInfo | None]) -> None:
        if self._in_flight.get(leader_id) is done:
            del self._in_flight[leader_id]
        if not done.cancelled():
            done.exception()  # retrieved here, so a lookup every waiter abandoned is not reported as unhandled

    async def _fetch_and_cache(self, leader_id: str) -> LeaderInfo | None:
        started = time.monotonic()
        info = await self._fetch(leader_id)
        if self._cache_seconds > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[leader_id] = (started, info)
        return info

    async def _fetch(self, leader_id: str) -> LeaderInfo | None:
        url = f"{self._base_url}/internal/leaders/{quote(leader_id, safe='')}"
        try:
            response = await self._upstream.client.get(url, headers=await self._upstream.headers())
        except httpx.TimeoutException as exc:
            raise LeadersTimeout() from exc
        except httpx.HTTPError as exc:
            log.warning("leaders service unreachable", extra={"error": repr(exc)})
            raise LeadersUnavailable() from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise LeadersUnavailable(f"The leaders service answered {response.status_code}")
        body = response.json()
        return LeaderInfo(
            leader_id=str(body["leader_id"]),
            status=str(body["status"]),
            level=body.get("level"),
            pickup_point=body.get("pickup_point"),
            region=body.get("region"),
        )


class HttpPointsClient:
    """`POST {points_url}/internal/points/holds` and `.../holds/{order_id}/release`."""

    def __init__(self, upstream: UpstreamClients, base_url: str) -> None:
        self._upstream = upstream
        self._base_url = base_url

    async def _post(self, path: str, body: dict[str, Any] | None) -> httpx.Response:
        try:
            return await self._upstream.client.post(
                f"{self._base_url}{path}", json=body, headers=await self._upstream.headers()
            )
        except httpx.TimeoutException as exc:
            raise PointsTimeout() from exc
        except httpx.HTTPError as exc:
            log.warning("points service unreachable", extra={"error": repr(exc)})
            raise PointsUnavailable() from exc

    async def hold(self, *, order_id: int, user_id: str, points: int, goods_fen: int) -> Hold:
        body = {"order_id": order_id, "user_id": user_id, "points": points, "goods_fen": goods_fen}
        response = await self._post("/internal/points/holds", body)
        if response.status_code in (409, 422):
            error = points_refusal(response.status_code, _problem_code(response))
            detail = None
            with contextlib.suppress(ValueError, AttributeError):
                detail = response.json().get("detail")
            raise error(detail if isinstance(detail, str) else None)
        if response.status_code not in (200, 201):
            raise PointsUnavailable(f"The points service answered {response.status_code}")
        data = response.json()
        return Hold(points=int(data["points"]), discount_fen=int(data["discount_fen"]))

    async def release(self, *, order_id: int) -> None:
        response = await self._post(f"/internal/points/holds/{order_id}/release", None)
        if response.status_code not in (200, 204, 404):
            raise PointsUnavailable(f"The points service answered {response.status_code}")

    async def waiting_holds(self, *, created_before: datetime, limit: int) -> list[int]:
        try:
            response = await self._upstream.client.get(
                f"{self._base_url}/internal/points/holds",
                params={"created_before": created_before.isoformat(), "limit": limit},
                headers=await self._upstream.headers(),
            )
        except httpx.TimeoutException as exc:
            raise PointsTimeout() from exc
        except httpx.HTTPError as exc:
            raise PointsUnavailable() from exc
        if response.status_code != 200:
            raise PointsUnavailable(f"The points service answered {response.status_code}")
        return [int(item["order_id"]) for item in response.json()["items"]]


class HttpEffectsSource:
    """What the leaders and points services applied per order, for reconciliation
    (`POST {url}/internal/reconciliation/commission` and `.../points`, at most 500 order ids per call)."""

    def __init__(self, upstream: UpstreamClients, *, leaders_url: str, points_url: str) -> None:
        self._upstream = upstream
        self._leaders_url = leaders_url
        self._points_url = points_url

    async def _ask(
        self,
        url: str,
        order_ids: Sequence[int],
        unavailable: type[ServiceUnavailable],
        timed_out: type[UpstreamTimeout],
    ) -> dict[str, Any]:
        if not order_ids:
            return {}
        answer = await self._upstream.ask(
            url, {"order_ids": list(order_ids)}, unavailable=unavailable, timed_out=timed_out
        )
        orders: dict[str, Any] = answer["orders"]
        return orders

    async def commission_effects(self, order_ids: Sequence[int]) -> dict[str, Any]:
        url = f"{self._leaders_url}/internal/reconciliation/commission"
        return await self._ask(url, order_ids, LeadersUnavailable, LeadersTimeout)

    async def points_effects(self, order_ids: Sequence[int]) -> dict[str, Any]:
        url = f"{self._points_url}/internal/reconciliation/points"
        return await self._ask(url, order_ids, PointsUnavailable, PointsTimeout)
