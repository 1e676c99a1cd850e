"""The gateway's HTTP server protocol: uvicorn's httptools protocol, with each response head and body in one write.

uvicorn writes the status line and headers in one `transport.write` and the body in another. On loopback each
write is a syscall and a TCP segment the caller has to read, a large share of the gateway's time under load
(bench/README.md). Holding the head until the body follows (the proxy sends both back to back) makes it one
write, one segment.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A body chunk up to this size is copied behind the head; a larger one goes out with writelines (no copy).
_JOIN_LIMIT = 16 * 1024


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
    """uvicorn's httptools protocol writing each response through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Set after uvicorn's own setup (which reads addresses and TLS from the real transport); every request
        # cycle of this connection is created with `self.transport`.
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
