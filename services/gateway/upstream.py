"""Clients that carry a request to an upstream service.

Production uses `Http1Upstream`: one pool of keep-alive connections per upstream, built on `http1` (httptools and
asyncio protocols), all pools sharing one connection limit (why not aiohttp: see `http1`).
`HttpxUpstream` wraps any httpx transport, so tests run the gateway and stand-in services in one process with
`httpx.ASGITransport`.

Both take the request target as raw bytes (path and query exactly as the caller sent them) and raise the same
three errors, so the proxy maps failures to problems in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import httpx

from services.gateway import http1
from services.gateway.config import GatewaySettings
from services.gateway.errors import UpstreamBroken, UpstreamError, UpstreamTimedOut, UpstreamUnreachable

__all__ = [
    "Body",
    "Http1Upstream",
    "HttpxUpstream",
    "RawHeaders",
    "UpstreamBroken",
    "UpstreamClient",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamReply",
    "UpstreamTimedOut",
    "UpstreamUnreachable",
]

Body = bytes | AsyncIterator[bytes] | None
# Lower-case names, as ASGI servers give them; never Host or hop-by-hop headers (the proxy strips those).
RawHeaders = list[tuple[bytes, bytes]]


class UpstreamReply(Protocol):
    status: int
    # Header names as the upstream sent them; the proxy lower-cases them for ASGI.
    raw_headers: tuple[tuple[bytes, bytes], ...]
    content_length: int | None

    async def read(self) -> bytes: ...

    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None:
        """Give the connection back (or drop it if the body was not read to the end)."""


class UpstreamClient(Protocol):
    async def send(
        self, method: str, target: bytes, headers: RawHeaders, body: Body, *, has_length: bool = False
    ) -> UpstreamReply:
        """Send a request for `target` (raw path and query) and return once the response headers arrived.

        `has_length`: `headers` carry the caller's Content-Length (else the client frames the body itself).
        """

    async def aclose(self) -> None: ...


class Http1Upstream:
    """The production client for one upstream: pooled keep-alive HTTP/1.1 connections."""

    def __init__(self, base_url: str, settings: GatewaySettings, limit: http1.Limit) -> None:
        host, port, self._prefix, tls = http1.split_origin(base_url)
        self._pool = http1.Pool(
            host,
            port,
            tls=tls,
            limit=limit,
            connect_timeout=settings.upstream_connect_timeout_seconds,
            # Bounds the silence between reads (so the wait for the response headers as well), not the whole
            # exchange: a long, steadily streaming download is fine.
            read_timeout=settings.upstream_read_timeout_seconds,
            keepalive=settings.upstream_keepalive_seconds,
        )

    async def send(
        self, method: str, target: bytes, headers: RawHeaders, body: Body, *, has_length: bool = False
    ) -> UpstreamReply:
        if self._prefix:
            target = self._prefix + target
        return await self._pool.request(method, target, headers, body, has_length=has_length)

    async def aclose(self) -> None:
        self._pool.close()


class _HttpxReply:
    __slots__ = ("_response", "content_length", "raw_headers", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.raw_headers = tuple(response.headers.raw)
        length = response.headers.get("content-length")
        self.content_length = int(length) if length is not None and length.isdigit() else None

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TimeoutException as exc:
            raise UpstreamTimedOut(str(exc)) from exc
        except httpx.TransportError as exc:
            raise UpstreamBroken(str(exc)) from exc

    def close(self) -> None:
        # The proxy always reads the body to the end (which closes the stream) or fails; ASGITransport holds no
        # connection either way.
        pass


class HttpxUpstream:
    """Any httpx transport as an upstream: `httpx.ASGITransport(app=...)` runs a service in-process."""

    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport, settings: GatewaySettings) -> None:
        self._base_url = base_url
        self._transport = transport
        self._read_timeout = settings.upstream_read_timeout_seconds
        self._timeouts = {
            "connect": settings.upstream_connect_timeout_seconds,
            "read": settings.upstream_read_timeout_seconds,
            "write": settings.upstream_read_timeout_seconds,
            "pool": settings.upstream_connect_timeout_seconds,
        }

    async def send(
        self, method: str, target: bytes, headers: RawHeaders, body: Body, *, has_length: bool = False
    ) -> UpstreamReply:
        url = self._base_url + target.decode("latin-1")
        request = httpx.Request(method, url, headers=headers, content=body, extensions={"timeout": self._timeouts})
        try:
            # ASGITransport ignores the timeout extension, so bound the wait for the response here as well.
            async with asyncio.timeout(self._read_timeout):
                response = await self._transport.handle_async_request(request)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise UpstreamTimedOut(str(exc) or "timed out") from exc
        except httpx.ConnectError as exc:
            raise UpstreamUnreachable(str(exc)) from exc
        except httpx.TransportError as exc:
            raise UpstreamBroken(str(exc)) from exc
        return _HttpxReply(response)

    async def aclose(self) -> None:
        await self._transport.aclose()


class UpstreamPool:
    """The client for each service. The connection pools are created in `start()`, inside the event loop."""

    def __init__(
        self,
        settings: GatewaySettings,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self._settings = settings
        self.base_urls = settings.upstream_urls()
        self._transports = dict(transports or {})
        unknown = set(self._transports) - set(self.base_urls)
        if unknown:
            raise ValueError(f"Upstream transports given for unknown services: {sorted(unknown)}")
        self._clients: dict[str, UpstreamClient] = {}
        self._owned: list[UpstreamClient] = []

    async def start(self) -> None:
        if self._clients:
            return
        # One limit on open connections, all upstreams together (the setting's meaning).
        limit = http1.Limit(self._settings.upstream_pool_size)
        for service, base_url in self.base_urls.items():
            transport = self._transports.get(service)
            client: UpstreamClient
            if transport is not None:
                client = HttpxUpstream(base_url, transport, self._settings)
            else:
                client = Http1Upstream(base_url, self._settings, limit)
                self._owned.append(client)
            self._clients[service] = client

    async def aclose(self) -> None:
        for client in self._owned:
            await client.aclose()
        self._owned.clear()
        self._clients.clear()

    def client(self, service: str) -> UpstreamClient:
        try:
            return self._clients[service]
        except KeyError:
            raise RuntimeError("The gateway's upstream clients are not started (run its lifespan)") from None

    async def get(self, service: str, path: str, *, within: float, request_id: str) -> tuple[int, bytes]:
        """A small GET for the gateway's own use (OpenAPI documents, readiness), body read whole."""
        try:
            async with asyncio.timeout(within):
                reply = await self.client(service).send(
                    "GET", path.encode("latin-1"), [(b"x-request-id", request_id.encode("latin-1"))], None
                )
                try:
                    return reply.status, await reply.read()
                finally:
                    reply.close()
        except TimeoutError as exc:
            raise UpstreamTimedOut(f"no answer within {within} s") from exc
