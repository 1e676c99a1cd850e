"""The gateway's HTTP server protocol: uvicorn's httptools protocol, with each response head and body in one write,
and a bound on the size of a request's head.

uvicorn writes the status line and headers in one `transport.write` and the body in another. On loopback each
write is a syscall and a TCP segment the caller has to read, a large share of the gateway's time under load
(bench/README.md). Holding the head until the body follows (the proxy sends both back to back) makes it one
write, one segment.

Neither uvicorn nor httptools bounds a request's head: a caller could make the gateway buffer megabytes of headers
(httptools accumulates one header until it is complete). The protocol counts the head's bytes as they arrive and
answers 431 `HEADERS_TOO_LARGE` (and closes the connection) once they pass `GATEWAY_MAX_HEADER_BYTES`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from services.common.errors import PROBLEM_MEDIA_TYPE, problem_bytes
from services.gateway.config import GatewaySettings

# A body chunk up to this size is copied behind the head; a larger one goes out with writelines (no copy).
_JOIN_LIMIT = 16 * 1024

_HEAD_TOO_LARGE_BODY = problem_bytes(
    431,
    "HEADERS_TOO_LARGE",
    "The request's headers are too large",
    "The request line and headers together must stay under the gateway's limit",
)
_HEAD_TOO_LARGE = b"".join(
    [
        STATUS_LINE[431],
        b"content-type: ",
        PROBLEM_MEDIA_TYPE.encode(),
        b"\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(_HEAD_TOO_LARGE_BODY),
        _HEAD_TOO_LARGE_BODY,
    ]
)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head that is over the limit."""


def _max_head_bytes(app: Any) -> int:
    """The limit from the gateway's settings, found under whatever uvicorn wrapped the app in."""
    while app is not None:
        settings = getattr(app, "settings", None)
        if isinstance(settings, GatewaySettings):
            return settings.max_header_bytes
        app = getattr(app, "app", None)
    return GatewaySettings.model_fields["max_header_bytes"].default  # type: ignore[no-any-return]


class CoalescingTransport:
    """Passes everything to the real transport, except that a response head waits for the next write.

    A head is what uvicorn writes starting with `HTTP/` (status line and headers in one call). If nothing follows
    before the event loop's next iteration (a streamed response whose first chunk is slow), it goes out alone.
    Order is kept: a held head is always written before anything after it.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        # What uvicorn calls most, bound once instead of going through __getattr__.
        self.is_closing = transport.is_closing
        self.get_extra_info = transport.get_extra_info
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= _JOIN_LIMIT:
                self._transport.write(held + bytes(data))
            else:
                self._transport.writelines((held, data))
        elif data[:5] == b"HTTP/":
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def writelines(self, chunks: Any) -> None:
        self.flush()
        self._transport.writelines(chunks)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing each response through a `CoalescingTransport`, answering 431 to a request
    whose head is over the limit.

    Two counts: the exact size of what the parser has handed over (the target and each complete header), and the
    size of every read that arrived while a head was still incomplete (the parser keeps a header it has not finished
    to itself, so only this count sees one huge header grow). The read in which a request begins is left out of the
    second count, as it may also hold the end of the request before: the count errs low, never refusing a head
    under the limit, and catches one over it at most one read late.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_head_bytes = _max_head_bytes(config.loaded_app)
        self._head_bytes = 0
        self._head_reads = 0
        self._in_head = False
        self._began = False

    def data_received(self, data: bytes) -> None:
        # uvicorn's data_received, plus the head's count and the 431.
        self._unset_keepalive_if_required()
        self._began = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse_head()
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head:
            if not self._began:
                self._head_reads += len(data)
            if self._head_reads > self.max_head_bytes:
                self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_reads = 0
        self._in_head = self._began = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            raise _HeadTooLarge

    def _refuse_head(self) -> None:
        self._in_head = False
        if not self.transport.is_closing():
            self.transport.write(_HEAD_TOO_LARGE)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Set after uvicorn's own setup (which reads addresses and TLS from the real transport); every request
        # cycle of this connection is created with `self.transport`.
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
