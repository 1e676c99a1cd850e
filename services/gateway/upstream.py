"""Clients that carry a request to an upstream service.

Production uses `AiohttpUpstream`: ONE aiohttp session with one pooled, keep-alive connector shared by every
upstream (measured on this machine: a pooled aiohttp client behind a pure ASGI proxy keeps most of the direct
throughput; a stock httpx client loses almost all of it). `HttpxUpstream` wraps any httpx transport, so tests run
the gateway and stand-in services in one process with `httpx.ASGITransport`.

Both raise the same three errors, so the proxy maps failures to problems in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import aiohttp
import httpx
from yarl import URL

from services.gateway.config import GatewaySettings

Body = bytes | AsyncIterator[bytes] | None
RawHeaders = list[tuple[str, str]]


class UpstreamError(Exception):
    """The upstream could not give an answer."""


class UpstreamUnreachable(UpstreamError):
    """Nothing accepted the connection (refused, unknown host)."""


class UpstreamTimedOut(UpstreamError):
    """Connected, or trying to, but no answer in time."""


class UpstreamBroken(UpstreamError):
    """The upstream closed the connection or sent something that is not HTTP."""


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
    async def send(self, method: str, url: str, headers: RawHeaders, body: Body) -> UpstreamReply:
        """Send a request and return once the response headers arrived."""

    async def aclose(self) -> None: ...


class _AiohttpReply:
    __slots__ = ("_response", "content_length", "raw_headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.raw_headers = response.raw_headers
        self.content_length = response.content_length

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except TimeoutError as exc:
            raise UpstreamTimedOut(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(str(exc)) from exc

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as exc:
            raise UpstreamTimedOut(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(str(exc)) from exc

    def close(self) -> None:
        # release() keeps the connection for reuse once the body was consumed, and closes it otherwise.
        self._response.release()


class AiohttpUpstream:
    """The production client: one session, one connector, every upstream."""

    def __init__(self, settings: GatewaySettings) -> None:
        connector = aiohttp.TCPConnector(
            limit=settings.upstream_pool_size,
            keepalive_timeout=settings.upstream_keepalive_seconds,
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # A shared jar would hand one user's cookies to the next user's request: never keep cookies.
            cookie_jar=aiohttp.DummyCookieJar(),
            # Forward what the caller sent, nothing more: no invented User-Agent/Accept/Accept-Encoding.
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            auto_decompress=False,
            raise_for_status=False,
        )
        # sock_read bounds the silence between reads (so the wait for the response headers as well), not the whole
        # exchange: a long, steadily streaming download is fine.
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.upstream_connect_timeout_seconds + 1.0,  # includes waiting for a pooled connection
            sock_connect=settings.upstream_connect_timeout_seconds,
            sock_read=settings.upstream_read_timeout_seconds,
        )

    async def send(self, method: str, url: str, headers: RawHeaders, body: Body) -> UpstreamReply:
        try:
            response = await self._session.request(
                method,
                # The path and query are forwarded byte-exact: yarl must not re-quote them.
                URL(url, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self._timeout,
            )
        # Order matters: aiohttp's timeout errors are also ClientErrors.
        except TimeoutError as exc:
            raise UpstreamTimedOut(str(exc)) from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnreachable(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(str(exc)) from exc
        return _AiohttpReply(response)

    async def aclose(self) -> None:
        await self._session.close()


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

    def __init__(self, transport: httpx.AsyncBaseTransport, settings: GatewaySettings) -> None:
        self._transport = transport
        self._read_timeout = settings.upstream_read_timeout_seconds
        self._timeouts = {
            "connect": settings.upstream_connect_timeout_seconds,
            "read": settings.upstream_read_timeout_seconds,
            "write": settings.upstream_read_timeout_seconds,
            "pool": settings.upstream_connect_timeout_seconds,
        }

    async def send(self, method: str, url: str, headers: RawHeaders, body: Body) -> UpstreamReply:
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
    """The client for each service. The shared aiohttp session is created in `start()`, inside the event loop."""

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
        shared: AiohttpUpstream | None = None
        for service in self.base_urls:
            transport = self._transports.get(service)
            if transport is not None:
                self._clients[service] = HttpxUpstream(transport, self._settings)
                continue
            if shared is None:
                shared = AiohttpUpstream(self._settings)
                self._owned.append(shared)
            self._clients[service] = shared

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
                    "GET", self.base_urls[service] + path, [("x-request-id", request_id)], None
                )
                try:
                    return reply.status, await reply.read()
                finally:
                    reply.close()
        except TimeoutError as exc:
            raise UpstreamTimedOut(f"no answer within {within} s") from exc
