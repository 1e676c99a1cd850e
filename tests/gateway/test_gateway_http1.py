"""The gateway's own HTTP/1.1 upstream client against scripted upstreams (raw asyncio servers on loopback).

The real-process tests prove the common path through uvicorn; these pin the edges a hand-written client has to
get right: keep-alive reuse, an idle connection the upstream dropped, framing (chunked, until-close, HEAD),
garbage, silence, and the connection limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from services.gateway import http1
from services.gateway.errors import UpstreamBroken, UpstreamTimedOut, UpstreamUnreachable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Upstream:
    """A scripted server: `handler` runs per connection; requests (head + body) and connections are recorded."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        body = b""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                body = await reader.readexactly(int(line.split(b":", 1)[1]))
            elif line.lower() == b"transfer-encoding: chunked":
                while True:
                    size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
                    data = await reader.readexactly(size + 2)
                    if size == 0:
                        break
                    body += data[:-2]
        self.requests.append(head + body)
        return head + body


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%b\r\n%b" % (len(body), extra, body)


@asynccontextmanager
async def upstream_pool(
    upstream: Upstream, *, limit: int = 10, read_timeout: float = 2.0, keepalive: float = 4.0
) -> AsyncIterator[http1.Pool]:
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = http1.Pool(
        "127.0.0.1",
        port,
        limit=http1.Limit(limit),
        connect_timeout=1.0,
        read_timeout=read_timeout,
        keepalive=keepalive,
    )
    try:
        yield pool
    finally:
        pool.close()
        server.close()


async def fetch(pool: http1.Pool, method: str = "GET", body: http1.Body = None) -> tuple[int, bytes]:
    response = await pool.request(method, b"/x?a=1", [(b"x-request-id", b"r1")], body, has_length=False)
    try:
        return response.status, await response.read()
    finally:
        response.close()


async def test_a_kept_alive_connection_serves_the_next_requests() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await upstream.read_request(reader)
            writer.write(ok(b"hello"))

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        for _ in range(5):
            assert await fetch(pool) == (200, b"hello")
    assert upstream.connections == 1
    assert upstream.requests[0].startswith(b"GET /x?a=1 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"\r\nx-request-id: r1\r\n" in upstream.requests[0]


async def test_a_bytes_body_gets_its_length_and_a_stream_is_chunked() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await upstream.read_request(reader)
            writer.write(ok(request.split(b"\r\n\r\n", 1)[1]))

    async def stream() -> AsyncIterator[bytes]:
        for part in (b"a" * 70_000, b"", b"b" * 10):
            yield part

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        assert await fetch(pool, "POST", b"payload") == (200, b"payload")
        assert await fetch(pool, "POST", stream()) == (200, b"a" * 70_000 + b"b" * 10)
    assert b"content-length: 7\r\n" in upstream.requests[0]
    assert b"transfer-encoding: chunked\r\n" in upstream.requests[1]


async def test_an_idle_connection_the_upstream_dropped_is_replaced_for_a_get() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        writer.write(ok(b"once"))  # keep-alive advertised, then the connection is dropped
        await writer.drain()

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        assert await fetch(pool) == (200, b"once")
        await asyncio.sleep(0.05)
        assert await fetch(pool) == (200, b"once")
    assert upstream.connections == 2


async def test_a_post_on_a_connection_closed_before_answering_is_not_repeated() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        if upstream.connections == 1:
            writer.write(ok(b"first"))
            await writer.drain()
            await upstream.read_request(reader)  # the POST arrives, and the connection dies unanswered

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        assert await fetch(pool) == (200, b"first")
        with pytest.raises(UpstreamBroken):
            await fetch(pool, "POST", b"{}")
    assert upstream.connections == 1
    assert len(upstream.requests) == 2


async def test_chunked_and_until_close_bodies_are_read_whole() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        if upstream.connections == 1:
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            await upstream.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        assert await fetch(pool) == (200, b"abcde")
        assert await fetch(pool) == (200, b"until the end")
        assert await fetch(pool) == (200, b"until the end")  # that connection was not kept
    assert upstream.connections == 2


async def test_a_head_answer_has_no_body_and_its_connection_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await upstream.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n")

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        response = await pool.request("HEAD", b"/x", [], None, has_length=False)
        assert (response.status, response.content_length, await response.read()) == (200, 0, b"")
        response.close()
        response = await pool.request("HEAD", b"/x", [], None, has_length=False)
        response.close()
    assert upstream.connections == 2


async def test_an_interim_answer_is_skipped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n" + ok(b"final"))
        await reader.read()

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        assert await fetch(pool) == (200, b"final")


async def test_garbage_is_a_broken_upstream() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await reader.read()

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        with pytest.raises(UpstreamBroken):
            await fetch(pool)


async def test_a_body_cut_short_is_an_error_not_a_short_answer() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        response = await pool.request("GET", b"/x", [], None, has_length=False)
        with pytest.raises(UpstreamBroken):
            await response.read()
        response.close()


async def test_silence_is_a_timeout_but_a_steady_stream_is_not() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        if upstream.connections == 1:
            await asyncio.sleep(5)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(10):  # 0.5 s in all, longer than the read timeout, never silent for that long
            await asyncio.sleep(0.05)
            writer.write(b"1\r\nx\r\n")
        writer.write(b"0\r\n\r\n")
        await reader.read()

    upstream = Upstream(handler)
    async with upstream_pool(upstream, read_timeout=0.4) as pool:
        with pytest.raises(UpstreamTimedOut):
            await fetch(pool)
        assert await fetch(pool) == (200, b"x" * 10)


async def test_nothing_listening_is_unreachable() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    pool = http1.Pool("127.0.0.1", port, limit=http1.Limit(2), connect_timeout=1.0, read_timeout=1.0, keepalive=4.0)
    with pytest.raises(UpstreamUnreachable):
        await fetch(pool)
    assert pool.limit.open == 0  # the failed attempt gave its slot back


async def test_the_connection_limit_queues_requests_instead_of_opening_more() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await upstream.read_request(reader)
            await asyncio.sleep(0.02)
            writer.write(ok(b"ok"))

    upstream = Upstream(handler)
    async with upstream_pool(upstream, limit=2) as pool:
        results = await asyncio.gather(*(fetch(pool) for _ in range(8)))
        assert results == [(200, b"ok")] * 8
        assert pool.limit.open == 2
    assert upstream.connections == 2


async def test_waiting_too_long_for_a_free_connection_is_a_timeout() -> None:
    """Every connection busy (a burst at 10:00): the queued request fails as an upstream timeout, which the proxy
    answers with a 504 problem, not as a bare exception the server turns into a plain 500."""
    taken, release = asyncio.Event(), asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        taken.set()
        await release.wait()
        writer.write(ok(b"ok"))
        await writer.drain()

    upstream = Upstream(handler)
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = http1.Pool("127.0.0.1", port, limit=http1.Limit(1), connect_timeout=0.05, read_timeout=5.0, keepalive=4.0)
    try:
        busy = asyncio.create_task(fetch(pool))
        await taken.wait()  # the only connection is busy
        with pytest.raises(UpstreamTimedOut, match="no connection to the upstream free"):
            await fetch(pool)
        release.set()
        assert await busy == (200, b"ok")
        assert await fetch(pool) == (200, b"ok")  # the queue was left clean: the connection serves again
    finally:
        pool.close()
        server.close()


def test_upstream_urls_give_host_port_prefix_and_tls() -> None:
    assert http1.split_origin("http://orders:8002") == ("orders", 8002, b"", False)
    assert http1.split_origin("http://127.0.0.1/base/") == ("127.0.0.1", 80, b"/base", False)
    assert http1.split_origin("https://orders.internal") == ("orders.internal", 443, b"", True)
    with pytest.raises(ValueError, match="upstream URL"):
        http1.split_origin("ftp://orders")


async def test_a_timer_left_by_an_earlier_request_times_only_real_silence() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        writer.write(ok(b"fast"))
        await upstream.read_request(reader)
        await asyncio.sleep(0.15)  # under the 0.2 s timeout, but past the first request's deadline
        writer.write(ok(b"slow"))
        await reader.read()

    upstream = Upstream(handler)
    async with upstream_pool(upstream, read_timeout=0.2) as pool:
        assert await fetch(pool) == (200, b"fast")
        await asyncio.sleep(0.1)
        assert await fetch(pool) == (200, b"slow")
    assert upstream.connections == 1


async def test_an_idle_connection_known_closed_is_skipped_even_for_a_post() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        writer.write(ok(b"done"))
        await writer.drain()

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        assert await fetch(pool) == (200, b"done")
        idle = pool._idle[-1]
        idle.closed = True  # its close noticed, not yet cleaned up
        assert await fetch(pool, "POST", b"{}") == (200, b"done")
        assert idle.transport is not None
        idle.transport.abort()
    assert upstream.connections == 2
    assert upstream.requests[1].startswith(b"POST ")


async def test_a_connection_that_answered_a_server_error_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await upstream.read_request(reader)
            if upstream.connections == 1:
                body = b"boom"
                writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body))
            else:
                writer.write(ok(b"fine"))

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        assert await fetch(pool, "POST", b"{}") == (500, b"boom")
        assert await fetch(pool, "POST", b"{}") == (200, b"fine")
    assert upstream.connections == 2


async def test_a_post_never_goes_out_on_a_connection_the_upstream_already_closed() -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.read_request(reader)
        if upstream.connections == 1:
            writer.write(ok(b"first"))  # keep-alive advertised, then closed: the close reaches us after the answer
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            closed.set()
            return
        writer.write(ok(b"second"))
        await writer.drain()

    upstream = Upstream(handler)
    async with upstream_pool(upstream) as pool:
        assert await fetch(pool) == (200, b"first")
        idle = pool._idle[-1]
        assert idle.transport is not None
        # The event loop has not read the close yet (as when the next request follows at once under load).
        idle.transport.pause_reading()
        await closed.wait()
        assert not idle.closed
        assert await fetch(pool, "POST", b"{}") == (200, b"second")
    assert upstream.connections == 2
    assert upstream.requests[1].startswith(b"POST ")
