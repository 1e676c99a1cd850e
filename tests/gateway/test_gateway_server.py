"""The gateway's server protocol: a response head waits for its body so both leave in one write."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from services.gateway.config import GatewaySettings
from services.gateway.server import CoalescingTransport, GatewayHttpProtocol


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        self.writes.append(b"".join(chunks))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_write_buffer_size(self) -> int:
        return 7


def coalescing() -> tuple[CoalescingTransport, RecordingTransport]:
    real = RecordingTransport()
    return CoalescingTransport(real, asyncio.get_running_loop()), real  # type: ignore[arg-type]


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


async def test_a_head_and_its_body_leave_in_one_write() -> None:
    transport, real = coalescing()
    transport.write(HEAD)
    assert real.writes == []
    transport.write(b"{}")
    assert real.writes == [HEAD + b"{}"]
    await asyncio.sleep(0)  # the scheduled flush finds nothing left to send
    assert real.writes == [HEAD + b"{}"]


async def test_a_large_body_follows_the_head_in_the_same_call_and_order() -> None:
    transport, real = coalescing()
    big = b"x" * 100_000
    transport.write(HEAD)
    transport.write(big)
    transport.write(b"tail")
    assert real.writes == [HEAD + big, b"tail"]


async def test_a_head_alone_goes_out_on_the_next_loop_iteration() -> None:
    transport, real = coalescing()
    transport.write(HEAD)  # a streamed response whose first chunk is not ready yet
    await asyncio.sleep(0)
    assert real.writes == [HEAD]
    transport.write(b"chunk")
    assert real.writes == [HEAD, b"chunk"]


async def test_closing_sends_a_held_head_first() -> None:
    transport, real = coalescing()
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.close()
    assert real.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]
    assert real.closed and transport.is_closing()


async def test_anything_else_passes_through() -> None:
    transport, real = coalescing()
    transport.write(b"body bytes")
    assert real.writes == [b"body bytes"]
    assert transport.get_write_buffer_size() == 7


# -- the bound on a request's head ----------------------------------------------------------------------------------


class SocketlessTransport(RecordingTransport):
    """What uvicorn's protocol asks of a transport at connection time, without a socket."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("192.0.2.1", 4000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def set_write_buffer_limits(self, *args: Any, **kwargs: Any) -> None: ...


def connected_protocol(max_header_bytes: int, seen: list[str]) -> tuple[GatewayHttpProtocol, SocketlessTransport]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    class Gateway:  # stands for GatewayApp: the protocol finds the limit in the app's settings
        settings = GatewaySettings(max_header_bytes=max_header_bytes)

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await app(scope, receive, send)

    config = Config(app=Gateway(), lifespan="off", log_level="warning")
    protocol = GatewayHttpProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = SocketlessTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport


def status_of(writes: list[bytes]) -> int:
    return int(b"".join(writes).split(b" ", 2)[1])


async def test_one_header_growing_past_the_limit_is_refused_before_it_is_complete() -> None:
    seen: list[str] = []
    protocol, transport = connected_protocol(4096, seen)
    protocol.data_received(b"GET /api/v1/products/1 HTTP/1.1\r\nHost: g\r\nX-Big: ")
    for _ in range(4):
        protocol.data_received(b"z" * 1000)  # still under 4096 bytes of head
    assert transport.writes == [] and not transport.closed
    protocol.data_received(b"z" * 1000)  # and now over it, with the header not even finished
    assert transport.closed
    assert status_of(transport.writes) == 431
    assert b'"code":"HEADERS_TOO_LARGE"' in transport.writes[-1]
    assert seen == []  # nothing reached the application


async def test_a_head_under_the_limit_reaches_the_application_even_with_its_body_in_the_same_read() -> None:
    seen: list[str] = []
    protocol, transport = connected_protocol(4096, seen)
    filler = b"".join(b"X-F%d: %s\r\n" % (n, b"y" * 90) for n in range(35))  # about 3.5 kB of headers
    body = b"b" * 10_000  # the body is not the head: it never counts
    request = b"POST /p HTTP/1.1\r\nHost: g\r\n" + filler + b"Content-Length: 10000\r\n\r\n" + body
    protocol.data_received(request[:2000])
    protocol.data_received(request[2000:])  # the rest of the head and the whole body in one read
    for _ in range(20):
        await asyncio.sleep(0)  # let the request's task run
        if transport.writes:
            break
    assert seen == ["/p"]
    assert status_of(transport.writes) == 204
    assert not transport.closed


async def test_a_malformed_request_still_gets_uvicorns_400() -> None:
    protocol, transport = connected_protocol(4096, [])
    protocol.data_received(b"NOT HTTP AT ALL\r\n\r\n")
    assert status_of(transport.writes) == 400
    assert transport.closed
