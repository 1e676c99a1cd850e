"""A lean HTTP/1.1 client for the gateway's upstream hop: pooled keep-alive connections parsed with httptools.

Why not aiohttp: a general client's request and response objects, header multidicts, URL handling, timers and
tracing hooks were most of the gateway's CPU (bench/README.md has the profile). The hop only has to write bytes it
already holds and hand back what comes in, so this client is an `asyncio.Protocol` per connection: the request
head is one `b"".join`, a small body goes out in the same write, the response is parsed by httptools (C) and, when
the whole answer arrives in one read (the usual case), the waiting request resumes once with the body already
complete.

Failures map to the gateway's three upstream errors. What is deliberately not here: redirects, cookies, content
decoding, proxies. TLS works (an `https://` upstream URL) but the service network is expected to be plain HTTP.
"""

from __future__ import annotations

import asyncio
import collections
import select
import socket
import ssl
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools

from services.gateway.errors import UpstreamBroken, UpstreamTimedOut, UpstreamUnreachable

Body = bytes | AsyncIterator[bytes] | None
HeaderList = list[tuple[bytes, bytes]]

# A bytes body up to this size goes out in the same write as the head (one syscall); a larger one is written on its
# own so it is not copied.
_COALESCE_LIMIT = 64 * 1024
# Reading from the upstream pauses while this much of a response is buffered and not yet taken by the proxy (a
# slow caller must not make the gateway hold a whole download in memory).
_HIGH_WATER = 256 * 1024
# Safe to send again on a fresh connection when a reused one turned out to be closed before any answer (RFC 9110
# §9.2.2); a POST is never repeated: the upstream may have acted on it.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class _Closed(Exception):
    """The connection closed before any byte of the response (maybe an idle keep-alive the upstream dropped)."""


class _NotSent(_Closed):
    """The connection was already closed: nothing of the request went out, so any method may go again."""


class Response:
    """The upstream's answer: status and headers at once, the body as it arrives."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_conn",
        "_error",
        "_until_eof",
        "_waiter",
        "complete",
        "content_length",
        "raw_headers",
        "status",
    )

    def __init__(self, conn: Connection) -> None:
        self._conn: Connection | None = conn
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self.complete = False
        self.status = 0
        self.raw_headers: tuple[tuple[bytes, bytes], ...] = ()
        self.content_length: int | None = None
        self._until_eof = False

    # -- fed by the connection -------------------------------------------------------------------------------------
    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > _HIGH_WATER and self._conn is not None:
            self._conn.pause_reading()
        self._wake()

    def _finish(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: Exception) -> None:
        if not self.complete and self._error is None:
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = self._conn.loop.create_future() if self._conn else asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    # -- used by the proxy -----------------------------------------------------------------------------------------
    async def read(self) -> bytes:
        """The whole body."""
        while not self.complete:
            if self._error is not None:
                raise self._error
            if self._conn is not None:
                self._conn.resume_reading()  # reading it whole: the high-water mark does not apply
            await self._wait()
        body = b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
        self._chunks.clear()
        self._buffered = 0
        return body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        while True:
            while self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered <= _HIGH_WATER // 2 and self._conn is not None:
                    self._conn.resume_reading()
                yield chunk
            if self.complete:
                return
            if self._error is not None:
                raise self._error
            await self._wait()

    def close(self) -> None:
        """Give the connection back when the body was read to the end, drop it otherwise."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.response_done(self.complete and not self._chunks)


class Connection(asyncio.Protocol):
    """One keep-alive connection to an upstream; one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._fd = -1
        self._status = 0
        self._parser = httptools.HttpResponseParser(self)
        self._response: Response | None = None
        self._headers: HeaderList = []
        self._headers_ready: asyncio.Future[Response] | None = None
        self._ready_pending = False
        self._received_any = False
        self._head_request = False
        self._interim = False
        self._last_activity = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False
        self._reading_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._read_timeout = 0.0
        self._in_flight = False
        # Framing of the current request's streamed body, and whether the connection must go after this answer.
        self.chunked_body = False
        self._close_after_response = False

    # -- asyncio.Protocol ------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Requests are written whole; waiting for an ACK before sending (Nagle) would only add latency.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._fd = sock.fileno()

    def data_received(self, data: bytes) -> None:
        if self._headers_ready is None and self._response is None:
            # Bytes nobody asked for: the connection's framing can no longer be trusted.
            self.abort()
            return
        self._received_any = True
        self._last_activity = self.loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamBroken(f"invalid HTTP response: {exc}"))
            self.abort()
            return
        if self._ready_pending:
            # Resolved after the whole read was parsed, so that a small answer that arrived in one read is complete
            # when the request resumes: the proxy then sends it without waiting again.
            self._ready_pending = False
            ready, self._headers_ready = self._headers_ready, None
            if ready is not None and not ready.done() and self._response is not None:
                ready.set_result(self._response)

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        self._cancel_timer()
        self.pool.forget(self)
        response = self._response
        if response is not None and not response.complete:
            if response._until_eof:
                response._finish()  # no length and not chunked: the body ends where the connection does
            else:
                response._fail(UpstreamBroken("the upstream closed the connection mid-response"))
        ready = self._headers_ready
        if ready is not None and not ready.done():
            self._headers_ready = None
            if self._received_any:
                ready.set_exception(UpstreamBroken("the upstream closed the connection before answering"))
            else:
                ready.set_exception(_Closed())
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_exception(UpstreamBroken("the upstream closed the connection"))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- httptools callbacks ---------------------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # An interim answer (103 Early Hints...): the final one follows on the same connection.
            self._interim = True
            self._headers = []
            return
        response = Response(self)
        response.status = status
        self._status = status
        response.raw_headers = tuple(self._headers)
        self._headers = []
        chunked = False
        for name, value in response.raw_headers:
            lowered = name.lower()
            if lowered == b"content-length":
                response.content_length = int(value) if value.isdigit() else None
            elif lowered == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        self._response = response
        if self._head_request:
            # httptools cannot be told a HEAD answer has no body: finish it here, and never reuse the connection
            # (its parser would take the next answer for this one's body).
            response.content_length = 0 if response.content_length is not None else None
            response._finish()
            self._close_after_response = True
        elif response.content_length is None and not chunked and status not in (204, 304):
            response._until_eof = True
        self._ready_pending = True

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            self._response._feed(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        response = self._response
        if response is not None and not response.complete:
            response._finish()
        self.reusable = not self._head_request and self._parser.should_keep_alive()
        self._in_flight = False  # the timer, if still pending, will find nothing to watch

    # -- used by the pool and the response -------------------------------------------------------------------------
    async def request(self, head: bytes, body: Body, read_timeout: float, head_request: bool) -> Response:
        """Send one request; return once the response's status and headers arrived."""
        assert self.transport is not None
        if self.closed:
            raise _NotSent
        self.reusable = False
        self._response = None
        self._received_any = False
        self._head_request = head_request
        self._close_after_response = False
        ready: asyncio.Future[Response] = self.loop.create_future()
        self._headers_ready = ready
        self._arm_timer(read_timeout)
        try:
            if body is None:
                self.transport.write(head)
            elif isinstance(body, bytes):
                if len(body) <= _COALESCE_LIMIT:
                    self.transport.write(head + body)
                else:
                    self.transport.write(head)
                    self.transport.write(body)
            else:
                self.transport.write(head)
                await self._stream(body)
            return await ready
        except BaseException:
            self._headers_ready = None
            self.abort()
            raise

    async def _stream(self, body: AsyncIterator[bytes]) -> None:
        # Only called with `transfer-encoding: chunked` or a caller-given Content-Length in the head (see Pool).
        chunked = self.chunked_body
        assert self.transport is not None
        async for chunk in body:
            if self.closed:
                break  # connection_lost already resolved `ready` with the reason
            if chunk:
                if chunked:
                    self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                else:
                    self.transport.write(chunk)
                self._last_activity = self.loop.time()
            if self._paused:
                self._drain = self.loop.create_future()
                try:
                    await self._drain
                finally:
                    self._drain = None
        if chunked and not self.closed:
            self.transport.write(b"0\r\n\r\n")

    def response_done(self, consumed: bool) -> None:
        self._response = None
        # A server error may come from a process that is about to drop the connection without saying so (an
        # unhandled exception makes the server close it after answering): never hand such a connection to the next
        # request, whose POST could not be repeated if the close won the race.
        if consumed and self.reusable and not self.closed and not self._close_after_response and self._status < 500:
            self.pool.release(self)
        else:
            self.abort()

    def peer_closed(self) -> bool:
        """Whether the upstream closed this idle connection (or sent bytes nobody asked for) in a way the event loop
        has not processed yet. An idle keep-alive socket that is readable holds either EOF or garbage: both make it
        unusable, and finding out costs one non-blocking `select`, far less than a request lost on it."""
        if self._fd < 0:
            return False
        try:
            readable, _, _ = select.select([self._fd], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed and self._reading_paused:
            self._reading_paused = False
            self._last_activity = self.loop.time()
            self.transport.resume_reading()

    # -- internals -------------------------------------------------------------------------------------------------
    def _fail(self, error: Exception) -> None:
        ready = self._headers_ready
        if ready is not None and not ready.done():
            self._headers_ready = None
            ready.set_exception(error)
        if self._response is not None:
            self._response._fail(error)

    def abort(self) -> None:
        self.reusable = False
        if not self.closed:
            self.closed = True
            self._cancel_timer()
            self.pool.forget(self)
            if self.transport is not None:
                self.transport.abort()

    # The read timeout bounds silence, not the whole exchange. Re-arming a timer on every read (or even creating one
    # per request) costs more than the rest of the read path, so a connection keeps at most one timer: it checks
    # the time of the last activity when it fires and re-arms itself only while a request is in flight. Under load
    # a connection creates one timer per read timeout, not one per request.
    def _arm_timer(self, timeout: float) -> None:
        self._read_timeout = timeout
        self._last_activity = self.loop.time()
        self._in_flight = True
        if self._timer is None:
            self._timer = self.loop.call_at(self._last_activity + timeout, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._in_flight:
            return
        deadline = self._last_activity + self._read_timeout
        if self._reading_paused:
            # The silence is ours (the caller reads slowly), not the upstream's.
            deadline = self.loop.time() + self._read_timeout
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._on_timer)
            return
        self._fail(UpstreamTimedOut(f"no data from the upstream for {self._read_timeout} s"))
        self.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Limit:
    """Open connections across every upstream. At the limit a request waits, and gets either a connection another
    request of the same upstream is done with, or the slot of a connection that closed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.open = 0
        self._waiters: collections.deque[tuple[Pool, asyncio.Future[Connection | None]]] = collections.deque()

    def take(self) -> bool:
        """A slot for a new connection, if one is free and nobody queues for it."""
        if self.open < self.size and not self._waiters:
            self.open += 1
            return True
        return False

    async def wait(self, pool: Pool, within: float) -> Connection | None:
        """Queue: a connection of `pool` to reuse, or None for a slot to open a new one."""
        waiter: asyncio.Future[Connection | None] = pool.loop.create_future()
        entry = (pool, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(within):
                return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()  # given to us as we gave up: pass it on
                if handed is None:
                    self.release()
                else:
                    pool.release(handed)
            elif entry in self._waiters:
                self._waiters.remove(entry)
            raise

    def release(self) -> None:
        """A connection closed: its slot goes to the first in the queue, or back to the count."""
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.open -= 1

    def hand_over(self, pool: Pool, conn: Connection) -> bool:
        """A connection of `pool` is free: give it to a request queued for that upstream, or close it so that a
        request queued for another upstream gets its slot. False when nobody queues."""
        if not self._waiters:
            return False
        for entry in self._waiters:
            if entry[0] is pool and not entry[1].done():
                self._waiters.remove(entry)
                entry[1].set_result(conn)
                return True
        conn.abort()
        return True


class Pool:
    """Idle keep-alive connections to one upstream (host and port), most recently used first."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        limit: Limit,
        connect_timeout: float,
        read_timeout: float,
        keepalive: float,
        tls: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self._ssl = ssl.create_default_context() if tls else None
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        default_port = 443 if tls else 80
        self.host_header = (host if port == default_port else f"{host}:{port}").encode("latin-1")
        self.loop = asyncio.get_running_loop()
        self._idle: collections.deque[Connection] = collections.deque()
        self._all: set[Connection] = set()

    async def request(
        self, method: str, target: bytes, headers: HeaderList, body: Body, *, has_length: bool
    ) -> Response:
        """Send a request (target = raw path and query) and return once the response headers arrived.

        `headers` must not contain Host or hop-by-hop headers; `has_length` says whether they carry Content-Length.
        """
        parts = [method.encode("latin-1"), b" ", target, b" HTTP/1.1\r\nhost: ", self.host_header, b"\r\n"]
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
        chunked = False
        if body is not None and not has_length:
            if isinstance(body, bytes):
                parts += (b"content-length: ", b"%d" % len(body), b"\r\n")
            else:
                chunked = True
                parts.append(b"transfer-encoding: chunked\r\n")
        parts.append(b"\r\n")
        head = b"".join(parts)
        head_request = method == "HEAD"
        replayable = method in _IDEMPOTENT and not (body is not None and not isinstance(body, bytes))

        conn, reused = await self._acquire()
        for attempt in (1, 2):
            conn.chunked_body = chunked
            try:
                return await conn.request(head, body, self.read_timeout, head_request)
            except _NotSent:
                if attempt == 2:
                    raise UpstreamBroken("the upstream closed the connection before answering") from None
            except _Closed:
                if not (reused and replayable and attempt == 1):
                    raise UpstreamBroken("the upstream closed the connection before answering") from None
            # The upstream dropped a kept-alive connection just as we used it: once more, on another one.
            conn, reused = await self._acquire()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _acquire(self) -> tuple[Connection, bool]:
        """An idle connection (reused: True) or a new one, waiting at the connection limit."""
        while True:
            conn = self._take_idle()
            if conn is not None:
                return conn, True
            if self.limit.take():
                return await self._connect(), False
            within = self.connect_timeout + 1.0
            try:
                handed = await self.limit.wait(self, within)
            except TimeoutError:
                # Every connection busy for that long (a flash-sale burst): the caller gets a 504 problem, not the
                # server's bare 500 for an exception.
                raise UpstreamTimedOut(f"no connection to the upstream free within {within:.1f} s") from None
            if handed is None:
                return await self._connect(), False  # the slot of a connection that closed
            if not handed.closed:
                return handed, True
            # Closed while being handed over (its slot went on to the next in line): queue again.

    def _take_idle(self) -> Connection | None:
        idle = self._idle
        if not idle:
            return None
        expired_before = self.loop.time() - self.keepalive
        # The oldest are at the left: drop those the upstream is about to close anyway.
        while idle and idle[0].idle_since < expired_before:
            idle.popleft().abort()
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if conn.peer_closed():
                conn.abort()
                continue
            return conn
        return None

    async def _connect(self) -> Connection:
        """Open a connection in a slot already taken from the limit (given back if this fails)."""
        created: list[Connection] = []

        def new_connection() -> Connection:
            # Counted from the moment it exists, so a connection lost right after connecting gives its slot back.
            conn = Connection(self)
            created.append(conn)
            self._all.add(conn)
            return conn

        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await self.loop.create_connection(new_connection, self.host, self.port, ssl=self._ssl)
        except BaseException as exc:
            # Give the slot back once: through forget() if the connection had started, here otherwise.
            if not created or created[0] in self._all:
                self._all.difference_update(created)
                self.limit.release()
            if isinstance(exc, TimeoutError):
                what = f"no connection to {self.host}:{self.port} within {self.connect_timeout} s"
                raise UpstreamTimedOut(what) from None
            if isinstance(exc, OSError):
                raise UpstreamUnreachable(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
            raise
        if conn.closed:  # lost between connect and now: its slot was already given back in forget()
            raise UpstreamUnreachable(f"{self.host}:{self.port} closed the connection at once")
        return conn

    def release(self, conn: Connection) -> None:
        """A connection finished its exchange and can carry another."""
        if not self.limit.hand_over(self, conn):
            conn.idle_since = self.loop.time()
            self._idle.append(conn)

    def forget(self, conn: Connection) -> None:
        """A connection closed (either side): stop counting it."""
        if conn in self._all:
            self._all.discard(conn)
            self.limit.release()
            if conn in self._idle:
                self._idle.remove(conn)

    def close(self) -> None:
        for conn in list(self._all):
            conn.abort()
        self._idle.clear()


def split_origin(base_url: str) -> tuple[str, int, bytes, bool]:
    """`http(s)://host:port/prefix` → host, port, path prefix (bytes, no trailing slash), TLS or not."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{base_url!r}: an upstream URL is http(s)://host[:port][/prefix]")
    tls = parts.scheme == "https"
    return parts.hostname, parts.port or (443 if tls else 80), parts.path.rstrip("/").encode("latin-1"), tls
